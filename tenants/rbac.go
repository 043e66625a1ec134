package tenants

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
)

// Permissions are the RBAC rules this package's operations need, Plan,
// Apply and Verify of UpdateQuota, Resources and Storage of the PostgreSQL
// volume, and Report, and nothing more: Namespaced in a Role in each
// tenant namespace, Cluster (read-only) in a ClusterRole.
// TestE2EEveryOperationRunsUnderTheDocumentedRole runs every operation
// under exactly these rules on the real API server and fails on a
// forbidden request and on a rule no request used.
//
// The ClusterRole is read-only and needed because tenants are a
// cluster-wide notion: the namespaces say which tenant they are, and the
// overcommit guard and Report sum every tenant's quota.
//
// Resources and Storage run scale.Resources and postgres.ExpandStorage on
// the tenant's release, so their rules are the subset of scale's and
// postgres's Permissions those two operations use. Helm writes what their
// upgrades change in the reference chart: the app's Deployment (the pods'
// resources) and the CNPG Cluster (spec.storage.size). Storage of the NATS
// volume (nats.ExpandStorage) is not run under the role yet, so what it
// needs beyond these (the StatefulSet and its claims, the NATS servers'
// monitoring) is not in them.
func Permissions() scaling.Permissions {
	return scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{
			// Helm's release storage: the revisions are Secrets, listed by
			// label, the new one created and the old one marked superseded.
			scaling.Rule("", "secrets", "list", "create", "update"),
			// The upgrade reads and patches the tenant's quota; Verify
			// watches it (a streaming list: one watch). The quota guards of
			// Resources (the rollout's peak) and Storage (the growth within
			// requests.storage) list the namespace's quotas.
			scaling.Rule("", "resourcequotas", "get", "list", "watch", "patch"),
			// Resources: the app's Deployment read to plan (its replicas,
			// surge and current resources), patched by the upgrade, watched
			// by Verify; its ReplicaSets and pods watched until the new
			// revision's pods are Ready with the new resources.
			scaling.Rule("apps", "deployments", "get", "patch", "watch"),
			scaling.Rule("apps", "replicasets", "watch"),
			scaling.Rule("", "pods", "watch"),
			// Resources: the HPAs read for the most pods the rollout may
			// run.
			scaling.Rule("autoscaling", "horizontalpodautoscalers", "list"),
			// Storage (PostgreSQL): the CNPG Cluster read by name to plan,
			// patched by the upgrade (spec.storage.size), watched to verify.
			scaling.Rule("postgresql.cnpg.io", "clusters", "get", "watch", "patch"),
			// Storage (PostgreSQL): the instances' data claims listed to
			// plan (their size and class), watched until each has grown.
			scaling.Rule("", "persistentvolumeclaims", "list", "watch"),
			// Storage: the claim LimitRanges of the namespace (a claim's
			// max size).
			scaling.Rule("", "limitranges", "list"),
		},
		Cluster: []rbacv1.PolicyRule{
			// The tenant's namespace and its label; the tenant namespaces
			// by label (the overcommit guard, Report).
			scaling.Rule("", "namespaces", "get", "list"),
			// Every tenant's quota, in one list.
			scaling.Rule("", "resourcequotas", "list"),
			// The overcommit guard and Resources' capacity guard (no pod
			// larger than the largest node) read the nodes' allocatable;
			// without this rule they warn instead of judging.
			scaling.Rule("", "nodes", "list"),
			// Storage (PostgreSQL) reads the claims' StorageClass: whether
			// it allows expansion.
			scaling.Rule("storage.k8s.io", "storageclasses", "get"),
		},
	}
}
