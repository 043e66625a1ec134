output "worker_names" {
  description = "Names of the worker servers, which are also their Kubernetes node names."
  value       = local.worker_names
}

output "worker_count" {
  description = "Number of worker servers."
  value       = var.worker_count
}

output "worker_type" {
  description = "Hetzner server type of the workers."
  value       = var.worker_type
}

output "worker_pool" {
  description = "Value of the scaling.ironflow.dev/pool label on the workers' nodes."
  value       = local.worker_pool
}

output "control_plane_names" {
  description = "Names of the control plane servers."
  value       = [for cp in terraform_data.control_plane : cp.input.name]
}

output "load_balancer_name" {
  description = "Name of the API load balancer."
  value       = terraform_data.load_balancer.input.name
}

output "volume_names" {
  description = "Names of the volumes."
  value       = [for v in terraform_data.volume : v.input.name]
}
