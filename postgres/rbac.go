package postgres

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the Kubernetes RBAC rules this package's operations
// need, Plan, Apply and Verify of each, and nothing more: Namespaced in a
// Role in each namespace whose CloudNativePG clusters the client operates,
// Cluster (read-only) in a ClusterRole.
// TestEveryOperationRunsUnderTheDocumentedRole runs every operation under
// exactly these rules on the real API server and fails on a forbidden
// request and on a rule no request used.
//
// The release operations (ExpandStorage, ScaleInstances, ConfigurePooler)
// write through Helm, which writes the kinds of the reference chart an
// upgrade of theirs changes: the Cluster, the Pooler and the app's
// Deployment; a chart that renders other kinds from these values needs
// those too. Parameters is not run under the role yet (its Settings need
// real PostgreSQL), so what it needs beyond the release operations (get on
// the primary's pod; create on pods/exec for PSQL) is not in these rules.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// Helm's release storage (the release operations): the
			// revisions are Secrets, listed by label to plan, the new one
			// created and the old one marked superseded by the upgrade.
			scaling.Rule("", "secrets", "list", "create", "update"),
			// The Cluster read by name to plan, watched to verify;
			// patched by the upgrades of ExpandStorage (spec.storage.size)
			// and ScaleInstances (spec.instances); its status patched by
			// Switchover with the target primary (what the plugin's promote
			// sends: the status subresource, not the spec).
			scaling.Rule("postgresql.cnpg.io", "clusters", "get", "watch", "patch"),
			scaling.Rule("postgresql.cnpg.io", "clusters/status", "patch"),
			// The Poolers in front: listed by Switchover to plan, paused
			// and resumed around a switchover, watched to verify they run
			// again (and by ConfigurePooler's Verify); read by name by
			// ConfigurePooler (and Helm), created by the upgrade that
			// enables one, patched by the upgrade that retunes one.
			scaling.Rule("postgresql.cnpg.io", "poolers", "get", "list", "watch", "create", "patch"),
			// The instance pods and their managers' status (positions,
			// role), read the way kubectl cnpg status reads it: Switchover,
			// and ScaleInstances' plan and Verify (every replica streams).
			scaling.Rule("", "pods", "list", "watch"),
			scaling.Rule("", "pods/proxy", "get"),
			// The -rw Service's endpoints, watched until they point at the
			// new primary.
			scaling.Rule("discovery.k8s.io", "endpointslices", "watch"),
			// ExpandStorage: the instances' data claims listed to plan
			// (their size and class), watched until each has grown.
			scaling.Rule("", "persistentvolumeclaims", "list", "watch"),
			// The storage guard of ExpandStorage and of a ScaleInstances
			// scale-up: the namespace's storage quotas and claim
			// LimitRanges.
			scaling.Rule("", "resourcequotas", "list"),
			scaling.Rule("", "limitranges", "list"),
			// ConfigurePooler: the app Deployments the chart routes
			// through the pooler, read for the budget (their replicas) and
			// patched by the upgrade (DB_HOST moves to the pooler's
			// Service); the pooler's Deployment and the apps watched to
			// verify the rollouts; the HPAs read for the most pods the app
			// may run.
			scaling.Rule("apps", "deployments", "get", "watch", "patch"),
			scaling.Rule("autoscaling", "horizontalpodautoscalers", "list"),
		},
		Cluster: []rbacv1.PolicyRule{
			// ExpandStorage reads the claims' StorageClass (whether it
			// allows expansion). A cluster whose claims and Cluster name no
			// class would also list the classes for the default one; the
			// API server fills the default class into every claim, so no
			// request the role is tested with does.
			scaling.Rule("storage.k8s.io", "storageclasses", "get"),
		},
	}
}
