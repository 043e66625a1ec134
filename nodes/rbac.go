package nodes

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the Kubernetes RBAC rules Drain needs, Plan, Apply and
// Verify, and nothing more: Namespaced in a Role in each namespace with
// pods on the node (bound cluster-wide for a drain of any node), Cluster
// in a ClusterRole: a node's pods are listed across namespaces. TestDrainRunsUnderTheDocumentedRole runs a drain
// under exactly these rules on the real API server and fails on a
// forbidden request and on a rule no request used.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// Each pod evicted through the Eviction API, never deleted.
			scaling.Rule("", "pods/eviction", "create"),
			// The budgets the evictions must respect, and the controllers
			// whose replicas must be Ready elsewhere.
			scaling.Rule("policy", "poddisruptionbudgets", "list"),
			scaling.Rule("apps", "replicasets", "get"),
			// The switchover of a primary on the node (postgres.Switchover):
			// the Cluster, its status patch, the Poolers in front, the
			// instance managers' status and the -rw endpoints.
			scaling.Rule("postgresql.cnpg.io", "clusters", "get", "list", "watch"),
			scaling.Rule("postgresql.cnpg.io", "clusters/status", "patch"),
			scaling.Rule("postgresql.cnpg.io", "poolers", "list"),
			scaling.Rule("", "pods", "list", "watch"),
			scaling.Rule("", "pods/proxy", "get"),
			scaling.Rule("discovery.k8s.io", "endpointslices", "watch"),
		},
		Cluster: []rbacv1.PolicyRule{
			// The node read, cordoned, and watched until unschedulable;
			// its pods, of every namespace, read by field selector
			// (spec.nodeName) and watched until they are gone.
			scaling.Rule("", "nodes", "get", "watch", "patch"),
			scaling.Rule("", "pods", "list", "watch"),
		},
	}
}

// AddWorkerPermissions are the Kubernetes rules AddWorker needs (Terraform
// itself needs none: it talks to the cloud): the pool's nodes, listed when
// planning and watched by Verify (Cluster), and the pending pods, likewise
// (Namespaced: a Role in PendingNamespace, or bound cluster-wide when it
// is empty). The seed e2e test runs Diagnose, AddWorker and Destroy as a
// user holding exactly these, DiagnosePermissions (but metrics) and
// DestroyPermissions.
func AddWorkerPermissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{scaling.Rule("", "pods", "list", "watch")},
		Cluster:    []rbacv1.PolicyRule{scaling.Rule("", "nodes", "list", "watch")},
	}
}

// DestroyPermissions are the Kubernetes rules Destroy needs: every
// CloudNativePG Cluster, for its backup method and last backup.
func DestroyPermissions() scaling.Permissions {
	return scaling.Permissions{Cluster: []rbacv1.PolicyRule{
		scaling.Rule("postgresql.cnpg.io", "clusters", "list"),
	}}
}
