//go:build tools

// Package build pins the Kubernetes control-plane, etcd and KWOK commands that
// the real test environment runs. It is a separate module so that the library's
// own go.mod never carries k8s.io/kubernetes; build.sh compiles these commands
// once per version into a cache outside the repository.
package build

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
