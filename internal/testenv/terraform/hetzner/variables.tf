variable "cluster_name" {
  description = "Name of the cluster: prefix of every server, volume and load balancer name, and of the Kubernetes node names."
  type        = string

  validation {
    # A DNS label short enough that "<name>-worker-<n>" stays one too
    # (Hetzner server names and Kubernetes node names are hostnames).
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be lower-case letters, digits and dashes, at most 40 characters, starting and ending with a letter or digit."
  }
}

variable "location" {
  description = "Hetzner Cloud location of every server, volume and load balancer (fsn1, nbg1, hel1, ash, hil, sin)."
  type        = string
  default     = "fsn1"
}

variable "talos_version" {
  description = "Talos Linux image the servers boot."
  type        = string
  default     = "v1.10.6"
}

variable "control_plane_type" {
  description = "Hetzner server type of the control plane nodes."
  type        = string
  default     = "ccx23"
}

variable "control_plane_count" {
  description = "Number of control plane servers."
  type        = number
  default     = 1
}

variable "worker_type" {
  description = "Hetzner server type of the workers. Changing it replaces every worker (a new server, a new node)."
  type        = string
}

variable "worker_count" {
  description = "Number of worker servers."
  type        = number

  validation {
    condition     = var.worker_count >= 0 && var.worker_count == floor(var.worker_count)
    error_message = "worker_count must be a whole number, 0 or more."
  }
}

variable "load_balancer_type" {
  description = "Hetzner load balancer type in front of the Kubernetes API."
  type        = string
  default     = "lb11"
}

variable "volume_count" {
  description = "Number of Hetzner volumes (block storage for the cluster's persistent data)."
  type        = number
  default     = 1
}

variable "volume_size" {
  description = "Size of each volume in GB."
  type        = number
  default     = 50
}

variable "labels" {
  description = "Hetzner labels put on every server, volume and load balancer."
  type        = map(string)
  default     = {}
}
