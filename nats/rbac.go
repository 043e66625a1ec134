package nats

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the Kubernetes RBAC rules this package's operations
// need, Plan, Apply and Verify of each, and nothing more: Namespaced in a
// Role in each namespace whose NATS release the client changes, Cluster
// (read-only) in a ClusterRole. NATS itself is reached through the system
// account's connection (Options.System), not through Kubernetes.
// TestEveryOperationRunsUnderTheDocumentedRole runs every operation under
// exactly these rules on the real API server and fails on a forbidden
// request and on a rule no request used.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// Helm's release storage (Secrets): listed by label, the new
			// revision created, the old one marked superseded.
			scaling.Rule("", "secrets", "list", "create", "update"),
			// The upgrades (replicas, routes, max_file_store), the watch of
			// the rollout, and ExpandStorage's orphan delete and re-create
			// of the StatefulSet.
			scaling.Rule("apps", "statefulsets", "get", "watch", "create", "patch", "delete"),
			scaling.Rule("", "configmaps", "get", "patch"),
			// ExpandStorage: the claims grown in place, or (fixed class)
			// deleted with their server's pod and recreated at the new
			// size; the storage guard's quotas and LimitRanges.
			scaling.Rule("", "persistentvolumeclaims", "get", "watch", "patch", "delete"),
			scaling.Rule("", "pods", "delete"),
			scaling.Rule("", "resourcequotas", "list"),
			scaling.Rule("", "limitranges", "list"),
		},
		Cluster: []rbacv1.PolicyRule{
			// The capacity guard of a scale-up reads the nodes (without
			// it, the guard warns); ExpandStorage reads the claims'
			// StorageClass (whether it allows expansion).
			scaling.Rule("", "nodes", "list"),
			scaling.Rule("storage.k8s.io", "storageclasses", "get"),
		},
	}
}
