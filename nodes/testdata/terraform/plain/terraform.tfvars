# Production cluster on Hetzner Cloud (Talos).
# Edited by hand and by the scaling SDK; keep one value per line.

cluster_name = "prod"
hcloud_token = "hc-secret-token-do-not-show"

# Workers: cpx32 = 4 vCPU / 8 GB.
worker_count = 2  # keep >= 2 for HA
worker_type  = "cpx32"
