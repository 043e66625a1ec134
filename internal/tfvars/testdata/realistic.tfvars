# -----------------------------------------------------------------------------
# ironflow production cluster: Hetzner Cloud + Talos Linux
#
# Edited by hand and by the scaling SDK (nodes.AddWorker). Keep one attribute
# per line so that a tool can change a single value without touching others.
# -----------------------------------------------------------------------------

cluster_name       = "ironflow-prod"
location           = "fsn1"
network_zone       = "eu-central"
talos_version      = "v1.11.2"
kubernetes_version = "1.34.1"

# Control plane: three nodes for etcd quorum, never scaled by the tool.
control_plane_count = 3
control_plane_type  = "cpx31"

# Workers
worker_count = 2  # keep >= 2 for HA
worker_type  = "cpx32"

enable_floating_ip = true
ssh_allowed_cidrs  = ["203.0.113.0/24", "198.51.100.7/32"]

labels = {
  env           = "prod"
  team          = "platform"
  "cost-center" = "4711"
}

extra_manifests = [
  "https://raw.githubusercontent.com/ironflow/platform/main/manifests/base.yaml",
  "https://raw.githubusercontent.com/ironflow/platform/main/manifests/monitoring.yaml",
]

talos_machine_patch = <<-EOT
  machine:
    kubelet:
      extraArgs:
        max-pods: "110"
EOT

# Interpolation escaped on purpose: the literal text ${hostname} reaches Talos.
hostname_template = "worker-$${hostname}"

hcloud_token = "REDACTED" // real token comes from TF_VAR_hcloud_token in CI
