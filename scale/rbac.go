package scale

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the RBAC rules this package's operations need, Plan,
// Apply and Verify of each, and nothing more: Namespaced in a Role in each
// namespace whose releases the client scales, Cluster (read-only) in a
// ClusterRole. TestE2EEveryOperationRunsUnderTheDocumentedRole runs every
// operation under exactly these rules on the real API server and fails on
// a forbidden request and on a rule no request used.
//
// Helm writes every kind the chart renders that an upgrade changes, so the
// write rules name the kinds of the reference chart (and its NATS and CNPG
// subcharts) that the operations change; a chart that renders other kinds
// into a template move needs them too.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// Helm's release storage: the revisions are Secrets, listed by
			// label, the new one created and the old one marked superseded.
			scaling.Rule("", "secrets", "list", "create", "update"),
			// Guards: quotas, disruption budgets, and the HPAs that would
			// undo a count.
			scaling.Rule("", "resourcequotas", "list"),
			scaling.Rule("policy", "poddisruptionbudgets", "list"),
			// Verify watches the pods of the rollout.
			scaling.Rule("", "pods", "list", "watch"),
			scaling.Rule("apps", "replicasets", "watch"),
			// What the upgrades change, and Verify's watch of the app.
			scaling.Rule("apps", "deployments", "get", "patch", "watch"),
			scaling.Rule("apps", "statefulsets", "get", "patch"),
			scaling.Rule("", "configmaps", "get", "patch"),
			scaling.Rule("", "services", "get", "create", "patch"),
			scaling.Rule("autoscaling", "horizontalpodautoscalers", "get", "list", "watch", "create", "patch", "delete"),
			scaling.Rule("postgresql.cnpg.io", "clusters", "get", "patch"),
			scaling.Rule("postgresql.cnpg.io", "poolers", "get", "create"),
			// Replicas of a workload without a release, as kubectl scale.
			scaling.Rule("apps", "deployments/scale", "patch"),
		},
		Cluster: []rbacv1.PolicyRule{
			// The capacity guard reads the nodes' allocatable; without this
			// rule it warns instead of judging.
			scaling.Rule("", "nodes", "list"),
		},
	}
}
