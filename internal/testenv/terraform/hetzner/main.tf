locals {
  # Hetzner Cloud server types: vCPUs and memory, as a node of that type
  # reports them (capacity = allocatable here; a real kubelet reserves some).
  server_types = {
    cx23  = { cpu = 2, memory = "4Gi" }
    cx33  = { cpu = 4, memory = "8Gi" }
    cx43  = { cpu = 8, memory = "16Gi" }
    cx53  = { cpu = 16, memory = "32Gi" }
    cpx22 = { cpu = 2, memory = "4Gi" }
    cpx32 = { cpu = 4, memory = "8Gi" }
    cpx42 = { cpu = 8, memory = "16Gi" }
    cpx52 = { cpu = 12, memory = "24Gi" }
    cpx62 = { cpu = 16, memory = "32Gi" }
    ccx13 = { cpu = 2, memory = "8Gi" }
    ccx23 = { cpu = 4, memory = "16Gi" }
    ccx33 = { cpu = 8, memory = "32Gi" }
    ccx43 = { cpu = 16, memory = "64Gi" }
    ccx53 = { cpu = 32, memory = "128Gi" }
    ccx63 = { cpu = 48, memory = "192Gi" }
  }
  unknown_type = { cpu = 0, memory = "0" }

  worker_spec        = lookup(local.server_types, var.worker_type, local.unknown_type)
  control_plane_spec = lookup(local.server_types, var.control_plane_type, local.unknown_type)

  # The label the workers' nodes carry: what the scaling operations select
  # the pool's nodes by.
  worker_pool  = "${var.cluster_name}-workers"
  worker_names = [for i in range(var.worker_count) : "${var.cluster_name}-worker-${i + 1}"]

  labels = merge(var.labels, { cluster = var.cluster_name })
}

# Stands for hcloud_server.control_plane (Talos control plane). Nothing of it
# is visible in the test cluster: the test control plane plays it.
resource "terraform_data" "control_plane" {
  count = var.control_plane_count

  triggers_replace = [var.control_plane_type, var.location, var.talos_version]

  input = {
    name     = "${var.cluster_name}-cp-${count.index + 1}"
    type     = var.control_plane_type
    cpu      = local.control_plane_spec.cpu
    memory   = local.control_plane_spec.memory
    location = var.location
    image    = "talos-${var.talos_version}"
    labels   = merge(local.labels, { role = "control-plane" })
  }

  lifecycle {
    precondition {
      condition     = contains(keys(local.server_types), var.control_plane_type)
      error_message = "control_plane_type \"${var.control_plane_type}\" is not a known Hetzner server type (${join(", ", sort(keys(local.server_types)))})."
    }
  }
}

# Stands for hcloud_load_balancer.api in front of the control plane.
resource "terraform_data" "load_balancer" {
  triggers_replace = [var.location]

  input = {
    name     = "${var.cluster_name}-api"
    type     = var.load_balancer_type
    location = var.location
    targets  = [for cp in terraform_data.control_plane : cp.input.name]
    labels   = local.labels
  }
}

# Stands for hcloud_volume.data.
resource "terraform_data" "volume" {
  count = var.volume_count

  triggers_replace = [var.location]

  input = {
    name     = "${var.cluster_name}-data-${count.index + 1}"
    size     = var.volume_size
    location = var.location
    labels   = local.labels
  }
}

# Stands for hcloud_server.worker: one Talos worker per count. Its
# provisioners play the machine joining the cluster and leaving it.
#
# Create: the worker's Kubernetes node registers at once, NotReady (Ready=False,
# tainted node.kubernetes.io/not-ready:NoSchedule), with the labels and the
# capacity of its server type. It turns Ready when the "boot" is over: after
# $WORKER_BOOT_SECONDS (default 5; Talos takes ~2 min) KWOK takes the node
# over, its node-initialize stage writes Ready=True, and the controller manager
# then lifts the not-ready taints. The capacity is set at create because KWOK's
# stage keeps a capacity that is there and would write its 1k CPU default
# otherwise.
#
# The boot is a node Lease in kube-node-lease, held by "talos-boot" for
# $WORKER_BOOT_SECONDS: KWOK (run with
# --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake) manages a
# node only once it holds the node's lease, retrying every ~10 s
# (--node-lease-duration-seconds / 4), so the node turns Ready between
# $WORKER_BOOT_SECONDS and $WORKER_BOOT_SECONDS + ~10 s after it registers.
# Annotating the node kwok.x-k8s.io/node=fake only after the delay would not
# do: KWOK v0.8.0 only starts managing a node on an add event, not on the
# update that adds the annotation, and such a node never turns Ready.
#
# Destroy: the node and its lease are deleted (a drained worker leaving).
#
# The provisioners need $KUBECTL (path of kubectl) and $KUBECONFIG, and fail
# when either is unset.
resource "terraform_data" "worker" {
  count = var.worker_count

  # A new server type (or location, or name) is a new server: replaced, not
  # updated in place.
  triggers_replace = [var.worker_type, var.location, var.cluster_name]

  input = {
    name     = local.worker_names[count.index]
    type     = var.worker_type
    cpu      = local.worker_spec.cpu
    memory   = local.worker_spec.memory
    location = var.location
    pool     = local.worker_pool
    image    = "talos-${var.talos_version}"
    labels   = merge(local.labels, { role = "worker" })
  }

  lifecycle {
    precondition {
      condition     = contains(keys(local.server_types), var.worker_type)
      error_message = "worker_type \"${var.worker_type}\" is not a known Hetzner server type (${join(", ", sort(keys(local.server_types)))})."
    }
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    environment = {
      NODE_NAME = self.input.name
      NODE_TYPE = self.input.type
      NODE_CPU  = self.input.cpu
      NODE_MEM  = self.input.memory
      NODE_ZONE = self.input.location
      NODE_POOL = self.input.pool
    }
    command = <<-EOT
      set -eu
      : "$${KUBECTL:?KUBECTL (the path of kubectl) must be set for the worker provisioners}"
      : "$${KUBECONFIG:?KUBECONFIG must be set for the worker provisioners}"
      boot="$${WORKER_BOOT_SECONDS:-5}"
      case "$boot" in '' | *[!0-9]*) echo "WORKER_BOOT_SECONDS must be a whole number of seconds, not '$boot'" >&2; exit 1 ;; esac
      if "$KUBECTL" get node "$NODE_NAME" >/dev/null 2>&1; then
        echo "node $NODE_NAME already exists: is another cluster named like this one?" >&2
        exit 1
      fi
      if [ "$boot" -gt 0 ]; then
        "$KUBECTL" -n kube-node-lease delete lease "$NODE_NAME" --ignore-not-found >/dev/null
        now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
        "$KUBECTL" create -f - <<EOF
      apiVersion: coordination.k8s.io/v1
      kind: Lease
      metadata:
        name: $NODE_NAME
        namespace: kube-node-lease
      spec:
        holderIdentity: talos-boot
        leaseDurationSeconds: $boot
        renewTime: "$now"
      EOF
      fi
      now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      "$KUBECTL" create -f - <<EOF
      apiVersion: v1
      kind: Node
      metadata:
        name: $NODE_NAME
        annotations:
          kwok.x-k8s.io/node: fake
        labels:
          kubernetes.io/hostname: $NODE_NAME
          kubernetes.io/os: linux
          kubernetes.io/arch: amd64
          node.kubernetes.io/instance-type: $NODE_TYPE
          topology.kubernetes.io/zone: $NODE_ZONE
          scaling.ironflow.dev/pool: $NODE_POOL
          type: kwok
      spec:
        taints:
        - key: node.kubernetes.io/not-ready
          effect: NoSchedule
      status:
        capacity: {cpu: "$NODE_CPU", memory: "$NODE_MEM", pods: "110"}
        allocatable: {cpu: "$NODE_CPU", memory: "$NODE_MEM", pods: "110"}
        conditions:
        - type: Ready
          status: "False"
          reason: KubeletNotReady
          message: Talos is booting
          lastHeartbeatTime: "$now"
          lastTransitionTime: "$now"
      EOF
    EOT
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    environment = {
      NODE_NAME = self.input.name
    }
    command = <<-EOT
      set -eu
      : "$${KUBECTL:?KUBECTL (the path of kubectl) must be set for the worker provisioners}"
      : "$${KUBECONFIG:?KUBECONFIG must be set for the worker provisioners}"
      "$KUBECTL" delete node "$NODE_NAME" --ignore-not-found
      "$KUBECTL" -n kube-node-lease delete lease "$NODE_NAME" --ignore-not-found
    EOT
  }
}
