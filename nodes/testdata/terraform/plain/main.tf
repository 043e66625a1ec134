# A Hetzner-shaped configuration with only builtin resources: the unit
# tests of AddWorker and Destroy plan and apply it with a real terraform or
# tofu, offline, without a cluster (the e2e fixture in
# internal/testenv/terraform/hetzner registers real nodes).
terraform {
  required_version = ">= 1.4.0"
}

variable "cluster_name" {
  type    = string
  default = "prod"
}

variable "worker_count" {
  type    = number
  default = 2
}

variable "worker_type" {
  type    = string
  default = "cpx32"
}

variable "hcloud_token" {
  type      = string
  sensitive = true
}

variable "hold_seconds" {
  description = "How long creating a worker takes: a test holds the state lock with it."
  type        = number
  default     = 0
}

resource "terraform_data" "control_plane" {
  input = { name = "${var.cluster_name}-cp-1", type = "cpx22" }
}

resource "terraform_data" "worker" {
  count            = var.worker_count
  input            = { name = "${var.cluster_name}-worker-${count.index + 1}", type = var.worker_type }
  triggers_replace = [var.worker_type]

  provisioner "local-exec" {
    command = "sleep ${var.hold_seconds}"
  }
}

resource "terraform_data" "load_balancer" {
  input = { name = "${var.cluster_name}-lb" }
}

resource "terraform_data" "volume" {
  count = 1
  input = { name = "${var.cluster_name}-data-${count.index + 1}", size = 50 }
}

output "workers" {
  value = terraform_data.worker[*].output.name
}
