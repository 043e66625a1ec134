package tenants_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling/tenants"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got)
}

// reportEnv is three tenants: acme near its pod limit, globex idle,
// initech whose release is missing, and a namespace labelled for acme
// that is not acme's namespace.
func reportEnv(t *testing.T) *fakeEnv {
	e := newFakeEnv(t, "acme", "globex")
	e.syncQuota(t, "tenant-acme", "acme", corev1.ResourceList{"pods": q("17"), "requests.cpu": q("1500m"), "limits.cpu": q("3"), "requests.memory": q("3Gi"), "requests.storage": q("10Gi")})
	ctx := context.Background()
	for name, tenant := range map[string]string{"tenant-initech": "initech", "acme-sandbox": "acme"} {
		_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{tenants.DefaultTenantLabel: tenant}}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e.kube.CoreV1().ResourceQuotas("prod").Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "not-a-tenant"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": q("5")}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()
	return e
}

// TestReportGolden: the table and the JSON of a report on two tenants, a
// tenant without a release and a stray namespace, in 2 + N requests.
func TestReportGolden(t *testing.T) {
	e := reportEnv(t)
	r, err := e.client.Report(context.Background())
	require.NoError(t, err)
	counts := map[string]int{}
	for _, a := range e.kube.Actions() {
		counts[a.GetVerb()+" "+a.GetResource().Resource]++
	}
	assert.Equal(t, map[string]int{"list namespaces": 1, "list resourcequotas": 1}, counts, "the in-memory releases are read without the clientset")

	require.Len(t, r.Tenants, 4)
	acme := r.Tenants[1]
	assert.Equal(t, "tenant-acme", acme.Namespace)
	assert.Equal(t, 1, acme.Revision)
	r.ObservedAt = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	golden(t, "report.txt", r.String())
	raw, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	golden(t, "report.json", string(raw)+"\n")
}
