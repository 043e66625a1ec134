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

test: controlplane
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	$(GO) test -count=1 -race ./fake/ ./internal/opkit/ ./internal/helmwrite/ ./internal/helmrelease/ ./internal/quota/

bench: controlplane
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
