# Production cluster: Talos Linux on Hetzner Cloud, Falkenstein.
#
# Worker capacity is changed through the scaling runbook (scaling nodes
# add / destroy), which edits worker_count and worker_type here and applies
# a reviewed plan. Do not apply hand edits of those two without a plan.

cluster_name = "prod"
location     = "fsn1"

# Control plane: a single node, dedicated vCPUs.
control_plane_type = "ccx23"

# Workers: shared AMD vCPUs, 4 vCPU / 8 GB each.
worker_count = 2 # one step at a time; the runbook checks pending pods first
worker_type  = "cpx32"

# Block storage for the databases, 50 GB each.
volume_count = 1

labels = {
  environment = "production"
  team        = "platform"
}
