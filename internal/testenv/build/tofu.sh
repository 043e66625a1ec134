#!/usr/bin/env bash
# Finds or builds the Terraform binary the nodes tests drive. Prints its path.
#
#   SCALING_TERRAFORM   use this binary (terraform or tofu), no lookup, no build
#   SCALING_BIN_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/ironflow-scaling)
#
# Order: $SCALING_TERRAFORM, then tofu or terraform on PATH, then OpenTofu
# built from its Go module into the cache, once per version. OpenTofu v1.6.3 is
# the newest release whose module builds with `go install` (from v1.8.0 on it
# replaces hcl/v2 with OpenTofu's fork, which go install refuses). A build goes
# into a temporary folder renamed into place when done; a lock serialises
# concurrent callers.
set -euo pipefail

tofu=v1.6.3
if [ -n "${SCALING_TERRAFORM:-}" ]; then echo "$SCALING_TERRAFORM"; exit 0; fi
for b in tofu terraform; do
  if p=$(command -v "$b" 2>/dev/null); then echo "$p"; exit 0; fi
done

root=${SCALING_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ironflow-scaling}
dest="$root/tofu-$tofu"
if [ -x "$dest/tofu" ]; then echo "$dest/tofu"; exit 0; fi

mkdir -p "$root"
exec 9>"$root/.build-tofu.lock"
flock 9
if [ -x "$dest/tofu" ]; then echo "$dest/tofu"; exit 0; fi

tmp=$(mktemp -d "$root/.build-tofu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building OpenTofu $tofu into $dest (cold: ~12 min on 2 cores)" >&2
# Outside any module, so the project's go.mod plays no part.
(cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" \
  "github.com/opentofu/opentofu/cmd/tofu@$tofu" >&2)
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "built in $(( $(date +%s) - start )) s" >&2
echo "$dest/tofu"
