package scaling

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Permissions are the RBAC rules a package's operations need, no more:
// Namespaced go in a Role in every namespace whose releases and workloads
// the client changes; Cluster in a ClusterRole, read-only. Each package's
// real-environment tests run every operation under exactly these rules
// and fail when one is missing (a request forbidden) or unused.
type Permissions struct {
	Namespaced []rbacv1.PolicyRule `json:"namespaced"`
	Cluster    []rbacv1.PolicyRule `json:"cluster,omitempty"`
}

// Role is the Namespaced rules as a Role.
func (p Permissions) Role(namespace, name string) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Rules:      p.Namespaced,
	}
}

// ClusterRole is the Cluster rules as a ClusterRole; nil when there are
// none.
func (p Permissions) ClusterRole(name string) *rbacv1.ClusterRole {
	if len(p.Cluster) == 0 {
		return nil
	}
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      p.Cluster,
	}
}

// Rule is one RBAC rule: verbs on a resource of an API group ("" is the
// core group).
func Rule(group, resource string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
}
