package rbactest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/reqcount"
)

// failures records what Check reports instead of failing the test.
type failures struct {
	*testing.T
	got []string
}

func (f *failures) Errorf(format string, args ...any) {
	f.got = append(f.got, fmt.Sprintf(format, args...))
}
func (f *failures) Helper() {}

func TestCheckFailsOnForbiddenUncoveredAndUnused(t *testing.T) {
	perms := scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}}},
		Cluster:    []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}},
	}
	exact := []reqcount.Request{
		{Verb: "get", Group: "apps", Resource: "deployments", Namespace: "a", Code: 200},
		{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "a", Code: 200},
		{Verb: "list", Resource: "nodes", Code: 200},
		{Verb: "get", Resource: "/version", Code: 200},
	}
	f := &failures{T: t}
	Check(f, perms, exact)
	assert.Empty(t, f.got, "every request covered, every rule used")

	f = &failures{T: t}
	Check(f, perms, append(exact,
		reqcount.Request{Verb: "watch", Group: "apps", Resource: "deployments", Namespace: "a", Code: 403, Path: "/apis/apps/v1/namespaces/a/deployments"},
		reqcount.Request{Verb: "list", Resource: "pods", Namespace: "a", Code: 200},
		reqcount.Request{Verb: "list", Group: "apps", Resource: "deployments", Code: 200},
	))
	assert.Equal(t, []string{
		`forbidden: watch /apis/apps/v1/namespaces/a/deployments (group "apps"): a rule is missing`,
		`no rule covers list pods (group "", namespace "a")`,
		`no rule covers list deployments (group "apps", namespace "")`,
	}, f.got)

	f = &failures{T: t}
	Check(f, perms, exact[:2])
	assert.Equal(t, []string{`unused cluster rule: list nodes (group ""): remove it, or exercise what needs it`}, f.got)
}
