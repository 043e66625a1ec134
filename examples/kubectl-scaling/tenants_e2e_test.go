package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/testenv"
)

// A tenant's quota the runbook's way, through the plugin: the admin's
// namespace and release (values-multi-tenant.yaml), a plan saved and
// applied later through the router (a tenants plan, not a scale one), the
// quota Kubernetes enforces changed; and a quota below what the tenant uses
// refused with exit 2.
func TestE2ETenantQuotaThroughSavedPlan(t *testing.T) {
	env := testenv.Shared()
	require.NotNil(t, env)
	prefix, label := "kst-"+rand.String(5)+"-", "scaling.test/tenant"
	ns := prefix + "acme"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{label: "acme"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	require.Eventually(t, func() bool {
		_, err := env.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 10*time.Millisecond, "the default ServiceAccount, without which pods are refused")
	v, err := chartutil.ReadValuesFile(filepath.Join(testenv.ChartPath("ironflow"), "values-multi-tenant.yaml"))
	require.NoError(t, err)
	vals := v.AsMap()
	vals["ingress"] = map[string]any{"host": "acme.ironflow.example.com"}
	releases := helmrelease.New(env.RESTConfig(), env.Client)
	_, err = releases.Install(ctx, ns, "acme", testenv.ChartPath("ironflow"), vals, 2*time.Minute)
	require.NoError(t, err)

	u := &userEnv{t: t, env: env, ns: ns, dir: t.TempDir(), releases: releases}
	tenantFlags := []string{"--tenant-prefix", prefix, "--tenant-label", label}

	report := u.run(append([]string{"tenants", "report"}, tenantFlags...)...)
	require.Equal(t, exitOK, report.code, report)
	assert.Contains(t, report.stdout, "acme")

	planned := u.run(append([]string{"tenants", "quota", "acme", "requests.cpu=6", "pods=30", "--out", "quota.json"}, tenantFlags...)...)
	require.Equal(t, exitOK, planned.code, planned)
	assert.Contains(t, planned.stdout, "tenants.UpdateQuota")

	applied := u.run(append([]string{"apply", "quota.json", "--auto-approve"}, tenantFlags...)...)
	require.Equal(t, exitOK, applied.code, applied)
	assert.Contains(t, applied.stdout, "Succeeded")
	quotas, err := env.Client.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, quotas.Items, 1)
	hard := quotas.Items[0].Spec.Hard
	assert.Equal(t, "6", ptrString(hard, "requests.cpu"), "the quota Kubernetes enforces changed")
	assert.Equal(t, "30", ptrString(hard, "pods"))

	below := u.run(append([]string{"tenants", "quota", "acme", "requests.cpu=1m", "--auto-approve"}, tenantFlags...)...)
	require.Equal(t, exitBlocked, below.code, below)
	assert.True(t, strings.Contains(below.stdout, "below") || strings.Contains(below.stdout, "usage"), below.stdout)
	after, err := env.Client.CoreV1().ResourceQuotas(ns).Get(ctx, quotas.Items[0].Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "6", ptrString(after.Spec.Hard, "requests.cpu"), "a blocked plan writes nothing")
}

func ptrString(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return ""
	}
	return q.String()
}
