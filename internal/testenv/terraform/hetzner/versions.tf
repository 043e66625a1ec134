# Stands in for deploy/terraform/hetzner (Talos on Hetzner Cloud) in the
# tests. It declares no provider: every "server", "volume" and "load
# balancer" is a builtin terraform_data resource, so init, plan and apply
# run offline, and the workers' provisioners register KWOK nodes in the
# test control plane instead of booting Talos machines.
#
# terraform_data is builtin since Terraform 1.4; OpenTofu has it from 1.6.
terraform {
  required_version = ">= 1.4"
}
