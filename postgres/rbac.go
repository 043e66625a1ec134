package postgres

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the Kubernetes RBAC rules this package's operations
// need, Plan, Apply and Verify of each, and nothing more, in a Role in
// each namespace whose CloudNativePG clusters the client operates.
// TestEveryOperationRunsUnderTheDocumentedRole runs every operation under
// exactly these rules on the real API server and fails on a forbidden
// request and on a rule no request used.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// The Cluster read by name to plan, watched to verify; its
			// status patched with the target primary (what the plugin's
			// promote sends: the status subresource, not the spec).
			scaling.Rule("postgresql.cnpg.io", "clusters", "get", "watch"),
			scaling.Rule("postgresql.cnpg.io", "clusters/status", "patch"),
			// The Poolers in front: listed to plan, paused and resumed
			// around a switchover, watched to verify they run again.
			scaling.Rule("postgresql.cnpg.io", "poolers", "list", "watch", "patch"),
			// The instance pods and their managers' status (positions,
			// role), read the way kubectl cnpg status reads it.
			scaling.Rule("", "pods", "list", "watch"),
			scaling.Rule("", "pods/proxy", "get"),
			// The -rw Service's endpoints, watched until they point at the
			// new primary.
			scaling.Rule("discovery.k8s.io", "endpointslices", "watch"),
		},
	}
}
