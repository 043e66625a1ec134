package tenants

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the RBAC rules this package's operations need, Plan,
// Apply and Verify of UpdateQuota and Report, and nothing more: Namespaced
// in a Role in each tenant namespace, Cluster (read-only) in a ClusterRole.
// TestE2EEveryOperationRunsUnderTheDocumentedRole runs every operation
// under exactly these rules on the real API server and fails on a
// forbidden request and on a rule no request used.
//
// The ClusterRole is read-only and needed because tenants are a
// cluster-wide notion: the namespaces say which tenant they are, and the
// overcommit guard and Report sum every tenant's quota.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// Helm's release storage: the revisions are Secrets, listed by
			// label, the new one created and the old one marked superseded.
			scaling.Rule("", "secrets", "list", "create", "update"),
			// The upgrade reads and patches the tenant's quota; Verify
			// watches it (a streaming list: one watch).
			scaling.Rule("", "resourcequotas", "get", "watch", "patch"),
		},
		Cluster: []rbacv1.PolicyRule{
			// The tenant's namespace and its label; the tenant namespaces
			// by label (the overcommit guard, Report).
			scaling.Rule("", "namespaces", "get", "list"),
			// Every tenant's quota, in one list.
			scaling.Rule("", "resourcequotas", "list"),
			// The overcommit guard reads the nodes' allocatable; without
			// this rule it warns instead of judging.
			scaling.Rule("", "nodes", "list"),
		},
	}
}
