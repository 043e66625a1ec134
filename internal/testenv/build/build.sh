#!/usr/bin/env bash
# Builds the real control plane the tests run against (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok) from Go modules, once
# per version set, into a cache outside the repository. Prints the folder.
#
#   SCALING_BIN_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/ironflow-scaling)
#
# A build goes into a temporary folder renamed into place only when every binary
# is there, so an interrupted build never looks cached. A lock serialises
# concurrent callers (several test packages starting at once).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s=v1.37.1
etcd=v3.7.0
kwok=v0.8.0
root=${SCALING_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ironflow-scaling}
dest="$root/k8s-$k8s-etcd-$etcd-kwok-$kwok"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

complete() {
  local b
  for b in "${bins[@]}"; do [ -x "$dest/$b" ] || return 1; done
}

if complete; then echo "$dest"; exit 0; fi

mkdir -p "$root"
exec 9>"$root/.build.lock"
flock 9
if complete; then echo "$dest"; exit 0; fi

tmp=$(mktemp -d "$root/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
ver="k8s.io/component-base/version"
minor=${k8s#v1.}; minor=${minor%%.*}
ldflags="-s -w -X $ver.gitVersion=$k8s -X $ver.gitMajor=1 -X $ver.gitMinor=$minor -X $ver.gitTreeState=clean -X $ver.buildDate=1970-01-01T00:00:00Z"
ldflags="$ldflags -X sigs.k8s.io/kwok/pkg/consts.Version=$kwok"
echo "building control plane $k8s, etcd $etcd, kwok $kwok into $dest (cold: ~25 min on 2 cores)" >&2
cd "$here"
# One go build for all six commands: they share client-go and friends, which
# compile once instead of once per command.
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
  go.etcd.io/etcd/server/v3 \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok >&2
# etcd's main package is the module root (go.etcd.io/etcd/server/v3): go build
# names the binary "server".
mv "$tmp/server" "$tmp/etcd"
# KWOK's stage definitions ship in its module; the environment passes them with --config.
kwokdir=$(GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
mkdir -p "$tmp/kwok-stages"
for s in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  cat "$kwokdir/kustomize/stage/$s.yaml" >> "$tmp/kwok-stages/stages.yaml"
  printf '\n---\n' >> "$tmp/kwok-stages/stages.yaml"
done
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "built in $(( $(date +%s) - start )) s" >&2
echo "$dest"
