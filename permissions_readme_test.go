package scaling_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/postgres"
	"github.com/ironflow/scaling/scale"
	"github.com/ironflow/scaling/tenants"
)

// roleTable is a package's Permissions as the README shows them, one row
// per rule: scope, API group, resource, verbs.
func roleTable(p scaling.Permissions) string {
	var b strings.Builder
	b.WriteString("| scope | API group | resource | verbs |\n|---|---|---|---|\n")
	for _, scope := range []struct {
		name  string
		rules []rbacv1.PolicyRule
	}{{"Role", p.Namespaced}, {"ClusterRole", p.Cluster}} {
		for _, r := range scope.rules {
			group := strings.Join(r.APIGroups, ", ")
			if group == "" {
				group = "(core)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", scope.name, group, strings.Join(r.Resources, ", "), strings.Join(r.Verbs, ", "))
		}
	}
	return b.String()
}

// TestREADMERolesAreThePackagesPermissions: the README's Role of each
// package is its Permissions(), which the package's real-environment test
// runs every operation under; a README that lags behind the code fails
// here, with the table to paste.
func TestREADMERolesAreThePackagesPermissions(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for pkg, p := range map[string]scaling.Permissions{"scale": scale.Permissions(), "nats": nats.Permissions(), "postgres": postgres.Permissions(), "nodes": nodes.Permissions(), "tenants": tenants.Permissions()} {
		block := regexp.MustCompile("(?s)<!-- role: " + pkg + " -->\n(.*?)\n\n").FindStringSubmatch(string(readme))
		want := roleTable(p)
		if !assert.Len(t, block, 2, "the README shows the %s Role after <!-- role: %s -->:\n%s", pkg, pkg, want) {
			continue
		}
		assert.Equal(t, want, block[1]+"\n", "the README's %s Role", pkg)
	}
}
