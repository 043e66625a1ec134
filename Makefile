# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test controlplane terraform bench

# Builds (first time only, ~15-25 min on 2 cores) and caches the real control
# plane the demo and the tests run: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl and KWOK.
controlplane:
	bash internal/testenv/build/build.sh >/dev/null

# The Terraform binary the nodes operations drive in the demo and the
# tests: tofu or terraform from PATH, else OpenTofu built from its Go module
# and cached by version (first time only, ~5-12 min on 2 cores).
terraform:
	bash internal/testenv/build/tofu.sh >/dev/null

demo: controlplane terraform
	$(GO) run ./examples/quickstart

# One pass, under the race detector: every package, the real-component
# tests included (~15 min here, against ~9 without -race).
test: controlplane terraform
	$(GO) vet ./...
	$(GO) test -count=1 -race -timeout 80m ./...

bench: controlplane terraform
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
