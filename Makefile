# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test controlplane bench

# Builds (first time only, ~15-25 min on 2 cores) and caches the real control
# plane the demo and the tests run: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl and KWOK.
controlplane:
	bash internal/testenv/build/build.sh >/dev/null

demo: controlplane
	$(GO) run ./examples/quickstart

# One pass, under the race detector: every package, the real-component
# tests included (~15 min here, against ~9 without -race).
test: controlplane
	$(GO) vet ./...
	$(GO) test -count=1 -race -timeout 80m ./...

bench: controlplane
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
