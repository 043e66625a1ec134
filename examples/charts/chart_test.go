package charts_test

// These tests render the reference chart in ./ironflow with Helm's Go API
// (loader -> chartutil.ToRenderValues -> engine.Render), exactly as
// `helm template ironflow ./ironflow -n demo -f <file>` would, and assert on
// the decoded objects. No cluster and no helm binary are needed.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "ironflow"
	releaseName = "ironflow"
	namespace   = "demo"
)

// scenarios maps a test name to the values file layered on top of the chart's
// values.yaml ("" means chart defaults only).
var scenarios = map[string]string{
	"defaults":     "",
	"small":        "values-small.yaml",
	"medium":       "values-medium.yaml",
	"large":        "values-large.yaml",
	"multi-tenant": "values-multi-tenant.yaml",
}

// rendered is the decoded output of one chart render.
type rendered struct {
	objs []*unstructured.Unstructured
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// render renders the chart with the given values file (relative to the chart
// directory, may be "") and decodes every manifest document.
func render(t *testing.T, valuesFile string) *rendered {
	t.Helper()
	overrides := map[string]interface{}{}
	if valuesFile != "" {
		vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, valuesFile))
		require.NoError(t, err, "read %s", valuesFile)
		overrides = vals.AsMap()
	}
	return renderValues(t, overrides)
}

// renderValues renders the chart with user-supplied values (the equivalent of
// `-f`/`--set`), coalesced over the chart's values.yaml.
func renderValues(t *testing.T, overrides map[string]interface{}) *rendered {
	t.Helper()

	chrt, err := loader.Load(chartDir)
	require.NoError(t, err, "load chart")

	renderVals, err := chartutil.ToRenderValues(chrt, overrides, chartutil.ReleaseOptions{
		Name:      releaseName,
		Namespace: namespace,
		Revision:  1,
		IsInstall: true,
	}, chartutil.DefaultCapabilities)
	require.NoError(t, err, "compose render values")

	out, err := engine.Render(chrt, renderVals)
	require.NoError(t, err, "render chart with %v", overrides)

	// Deterministic order: sort by template path.
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)

	r := &rendered{}
	for _, name := range names {
		// NOTES.txt and other non-manifest files are not Kubernetes objects.
		if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
			continue
		}
		for i, doc := range docSeparator.Split(out[name], -1) {
			js, err := yaml.YAMLToJSON([]byte(doc))
			require.NoError(t, err, "%s doc %d is not valid YAML:\n%s", name, i, doc)
			if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" || s == "" {
				continue // blank document (template rendered nothing)
			}
			u := &unstructured.Unstructured{}
			require.NoError(t, u.UnmarshalJSON(js), "%s doc %d is not a Kubernetes object:\n%s", name, i, doc)
			r.objs = append(r.objs, u)
		}
	}
	require.NotEmpty(t, r.objs, "chart rendered no objects")
	return r
}

// get returns the object of the given kind and name (any namespace) or nil.
func (r *rendered) get(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// must is get that fails the test when the object is missing.
func (r *rendered) must(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := r.get(kind, name)
	require.NotNil(t, o, "expected %s/%s to be rendered; got %v", kind, name, r.names())
	return o
}

func (r *rendered) ofKind(kind string) []*unstructured.Unstructured {
	var res []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			res = append(res, o)
		}
	}
	return res
}

func (r *rendered) names() []string {
	var res []string
	for _, o := range r.objs {
		id := o.GetKind() + "/" + o.GetName()
		if ns := o.GetNamespace(); ns != "" {
			id = ns + ":" + id
		}
		res = append(res, id)
	}
	return res
}

func nestedInt(t *testing.T, o *unstructured.Unstructured, fields ...string) int64 {
	t.Helper()
	v, found, err := unstructured.NestedInt64(o.Object, fields...)
	require.NoError(t, err, "%s/%s .%s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	require.True(t, found, "%s/%s has no .%s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	return v
}

func nestedString(t *testing.T, o *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	v, found, err := unstructured.NestedString(o.Object, fields...)
	require.NoError(t, err, "%s/%s .%s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	require.True(t, found, "%s/%s has no .%s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	return v
}

func nestedStringMap(t *testing.T, o *unstructured.Unstructured, fields ...string) map[string]string {
	t.Helper()
	v, found, err := unstructured.NestedStringMap(o.Object, fields...)
	require.NoError(t, err, "%s/%s .%s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	require.True(t, found, "%s/%s has no .%s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	return v
}

func hasField(o *unstructured.Unstructured, fields ...string) bool {
	_, found, _ := unstructured.NestedFieldNoCopy(o.Object, fields...)
	return found
}

// firstContainer returns spec.template.spec.containers[0] of a workload.
func firstContainer(t *testing.T, o *unstructured.Unstructured) map[string]interface{} {
	t.Helper()
	cs, found, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	require.NoError(t, err)
	require.True(t, found && len(cs) > 0, "%s/%s has no containers", o.GetKind(), o.GetName())
	c, ok := cs[0].(map[string]interface{})
	require.True(t, ok)
	return c
}

// containerEnv returns the plain `value` env vars of the first container
// (valueFrom entries are reported as "<valueFrom>").
func containerEnv(t *testing.T, o *unstructured.Unstructured) map[string]string {
	t.Helper()
	env := map[string]string{}
	list, _, err := unstructured.NestedSlice(firstContainer(t, o), "env")
	require.NoError(t, err)
	for _, e := range list {
		m := e.(map[string]interface{})
		name, _ := m["name"].(string)
		if v, ok := m["value"].(string); ok {
			env[name] = v
		} else {
			env[name] = "<valueFrom>"
		}
	}
	return env
}

// natsRoutes extracts the route URLs from the rendered nats.conf.
var natsRouteRE = regexp.MustCompile(`nats://[^\s,\]"]+`)

func natsRoutes(t *testing.T, r *rendered) []string {
	t.Helper()
	cm := r.must(t, "ConfigMap", releaseName+"-nats-config")
	conf := nestedString(t, cm, "data", "nats.conf")
	return natsRouteRE.FindAllString(conf, -1)
}

// ---------------------------------------------------------------------------

func TestEveryDocumentHasIdentity(t *testing.T) {
	for name, file := range scenarios {
		t.Run(name, func(t *testing.T) {
			r := render(t, file)
			seen := map[string]bool{}
			for i, o := range r.objs {
				assert.NotEmpty(t, o.GetAPIVersion(), "object %d has no apiVersion: %v", i, o.Object)
				assert.NotEmpty(t, o.GetKind(), "object %d has no kind: %v", i, o.Object)
				assert.NotEmpty(t, o.GetName(), "object %d (%s) has no metadata.name", i, o.GetKind())

				// Namespaced objects must be placed explicitly: in the release
				// namespace, or (tenant quotas) in their tenant namespace.
				if o.GetKind() != "Namespace" {
					ns := o.GetNamespace()
					assert.True(t, ns == namespace || strings.HasPrefix(ns, "tenant-"),
						"%s/%s has unexpected namespace %q", o.GetKind(), o.GetName(), ns)
				}

				id := fmt.Sprintf("%s|%s|%s|%s", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
				assert.False(t, seen[id], "duplicate object %s", id)
				seen[id] = true
			}
		})
	}
}

// TestBuiltinKindsDecodeStrictly decodes every built-in object into its typed
// k8s.io/api struct, rejecting unknown fields, so a misspelled or misplaced
// field (which the API server would silently drop or reject) fails here.
// CNPG objects are CRDs and are covered by the scenario tests instead.
func TestBuiltinKindsDecodeStrictly(t *testing.T) {
	typed := map[string]func() interface{}{
		"apps/v1/Deployment":                     func() interface{} { return &appsv1.Deployment{} },
		"apps/v1/StatefulSet":                    func() interface{} { return &appsv1.StatefulSet{} },
		"v1/Service":                             func() interface{} { return &corev1.Service{} },
		"v1/ConfigMap":                           func() interface{} { return &corev1.ConfigMap{} },
		"v1/Namespace":                           func() interface{} { return &corev1.Namespace{} },
		"v1/ResourceQuota":                       func() interface{} { return &corev1.ResourceQuota{} },
		"policy/v1/PodDisruptionBudget":          func() interface{} { return &policyv1.PodDisruptionBudget{} },
		"autoscaling/v2/HorizontalPodAutoscaler": func() interface{} { return &autoscalingv2.HorizontalPodAutoscaler{} },
		"networking.k8s.io/v1/Ingress":           func() interface{} { return &networkingv1.Ingress{} },
	}
	for name, file := range scenarios {
		t.Run(name, func(t *testing.T) {
			for _, o := range render(t, file).objs {
				gvk := o.GetAPIVersion() + "/" + o.GetKind()
				newObj, ok := typed[gvk]
				if !ok {
					assert.Equal(t, "postgresql.cnpg.io/v1", o.GetAPIVersion(), "unexpected kind %s", gvk)
					continue
				}
				js, err := json.Marshal(o.Object)
				require.NoError(t, err)
				dec := json.NewDecoder(bytes.NewReader(js))
				dec.DisallowUnknownFields()
				assert.NoError(t, dec.Decode(newObj()), "%s %s", gvk, o.GetName())
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	r := render(t, "")

	dep := r.must(t, "Deployment", "ironflow")
	assert.EqualValues(t, 1, nestedInt(t, dep, "spec", "replicas"))
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/name":     "ironflow",
		"app.kubernetes.io/instance": "ironflow",
	}, nestedStringMap(t, dep, "spec", "selector", "matchLabels"))
	// KWOK-friendly: nothing pins pods to real nodes by default.
	assert.False(t, hasField(dep, "spec", "template", "spec", "nodeSelector"))
	assert.False(t, hasField(dep, "spec", "template", "spec", "affinity"))

	c := firstContainer(t, dep)
	assert.Equal(t, "100m", mustNested(t, c, "resources", "requests", "cpu"))
	assert.Equal(t, "128Mi", mustNested(t, c, "resources", "requests", "memory"))
	assert.Equal(t, "500m", mustNested(t, c, "resources", "limits", "cpu"))
	assert.Equal(t, "256Mi", mustNested(t, c, "resources", "limits", "memory"))
	assert.Equal(t, "ghcr.io/ironflow/ironflow:1.0.0", c["image"], "tag defaults to appVersion")

	env := containerEnv(t, dep)
	assert.Equal(t, "10", env["DB_POOL_SIZE"])
	assert.Equal(t, "nats://ironflow-nats:4222", env["NATS_URL"])
	assert.NotContains(t, env, "CLUSTER_ENABLED")
	assert.NotContains(t, env, "DB_HOST", "postgresql is disabled by default")

	svc := r.must(t, "Service", "ironflow")
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	require.Len(t, ports, 1)
	assert.EqualValues(t, 8080, ports[0].(map[string]interface{})["port"])

	// NATS single node with JetStream.
	sts := r.must(t, "StatefulSet", "ironflow-nats")
	assert.EqualValues(t, 1, nestedInt(t, sts, "spec", "replicas"))
	assert.Empty(t, natsRoutes(t, r), "no cluster routes when clustering is off")
	assert.Nil(t, r.get("PodDisruptionBudget", "ironflow-nats"))
	r.must(t, "Service", "ironflow-nats")
	r.must(t, "Service", "ironflow-nats-headless")

	// Everything optional is off.
	for _, kind := range []string{"HorizontalPodAutoscaler", "Cluster", "Pooler", "Ingress", "ResourceQuota", "Namespace", "PodDisruptionBudget"} {
		assert.Empty(t, r.ofKind(kind), "no %s by default", kind)
	}
	assert.Nil(t, r.get("Service", "ironflow-peers"))
}

func mustNested(t *testing.T, m map[string]interface{}, fields ...string) interface{} {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(m, fields...)
	require.NoError(t, err)
	require.True(t, found, "missing .%s", strings.Join(fields, "."))
	return v
}

func TestNATSMatchesOfficialChartLayout(t *testing.T) {
	r := render(t, "values-medium.yaml")
	sts := r.must(t, "StatefulSet", "ironflow-nats")

	assert.Equal(t, "Parallel", nestedString(t, sts, "spec", "podManagementPolicy"))
	assert.Equal(t, "ironflow-nats-headless", nestedString(t, sts, "spec", "serviceName"))
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/name":      "nats",
		"app.kubernetes.io/instance":  "ironflow",
		"app.kubernetes.io/component": "nats",
	}, nestedStringMap(t, sts, "spec", "selector", "matchLabels"))
	podLabels := nestedStringMap(t, sts, "spec", "template", "metadata", "labels")
	assert.Equal(t, "nats", podLabels["app.kubernetes.io/name"])
	assert.Equal(t, "ironflow", podLabels["app.kubernetes.io/instance"])
	assert.Equal(t, "nats", podLabels["app.kubernetes.io/component"])

	c := firstContainer(t, sts)
	assert.Equal(t, "nats", c["name"])
	assert.Equal(t, "nats:2.10-alpine", c["image"])
	ports := map[string]int64{}
	for _, p := range c["ports"].([]interface{}) {
		pm := p.(map[string]interface{})
		ports[pm["name"].(string)] = pm["containerPort"].(int64)
	}
	assert.Equal(t, map[string]int64{"client": 4222, "cluster": 6222, "monitor": 8222}, ports)
	assert.Equal(t, "/healthz?js-server-only=true", mustNested(t, c, "readinessProbe", "httpGet", "path"))
	assert.Equal(t, "/healthz?js-enabled-only=true", mustNested(t, c, "livenessProbe", "httpGet", "path"))
	assert.EqualValues(t, 8222, mustNested(t, c, "readinessProbe", "httpGet", "port"))

	// PVCs end up as ironflow-nats-js-ironflow-nats-<i>.
	vcts, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	require.Len(t, vcts, 1)
	vct := &unstructured.Unstructured{Object: vcts[0].(map[string]interface{})}
	assert.Equal(t, "ironflow-nats-js", vct.GetName())
	assert.Equal(t, "20Gi", nestedString(t, vct, "spec", "resources", "requests", "storage"), "pvc size from values-medium.yaml")

	headless := r.must(t, "Service", "ironflow-nats-headless")
	assert.Equal(t, "None", nestedString(t, headless, "spec", "clusterIP"))
	var hp []int64
	sp, _, _ := unstructured.NestedSlice(headless.Object, "spec", "ports")
	for _, p := range sp {
		hp = append(hp, p.(map[string]interface{})["port"].(int64))
	}
	assert.ElementsMatch(t, []int64{4222, 6222, 8222}, hp)

	pdb := r.must(t, "PodDisruptionBudget", "ironflow-nats")
	assert.EqualValues(t, 1, nestedInt(t, pdb, "spec", "maxUnavailable"))
}

func TestSmall(t *testing.T) {
	r := render(t, "values-small.yaml")

	dep := r.must(t, "Deployment", "ironflow")
	assert.EqualValues(t, 1, nestedInt(t, dep, "spec", "replicas"))
	assert.NotContains(t, containerEnv(t, dep), "CLUSTER_ENABLED")

	sts := r.must(t, "StatefulSet", "ironflow-nats")
	assert.EqualValues(t, 1, nestedInt(t, sts, "spec", "replicas"))
	assert.Empty(t, natsRoutes(t, r))

	pg := r.must(t, "Cluster", "ironflow-pg")
	assert.Equal(t, "postgresql.cnpg.io/v1", pg.GetAPIVersion())
	assert.EqualValues(t, 1, nestedInt(t, pg, "spec", "instances"))
	assert.Equal(t, "10Gi", nestedString(t, pg, "spec", "storage", "size"))

	assert.Empty(t, r.ofKind("Pooler"), "pooler is off in small")
	assert.Empty(t, r.ofKind("HorizontalPodAutoscaler"), "autoscaling is off in small")
	assert.Nil(t, r.get("Service", "ironflow-peers"))

	env := containerEnv(t, dep)
	assert.Equal(t, "ironflow-pg-rw", env["DB_HOST"], "without pooler the app talks to the CNPG rw service")
}

func TestMedium(t *testing.T) {
	r := render(t, "values-medium.yaml")

	dep := r.must(t, "Deployment", "ironflow")
	assert.EqualValues(t, 3, nestedInt(t, dep, "spec", "replicas"))
	env := containerEnv(t, dep)
	assert.Equal(t, "true", env["CLUSTER_ENABLED"])
	assert.Equal(t, "ironflow-pg-pooler-rw", env["DB_HOST"], "with pooler the app talks to pgbouncer")

	peers := r.must(t, "Service", "ironflow-peers")
	assert.Equal(t, "None", nestedString(t, peers, "spec", "clusterIP"))

	sts := r.must(t, "StatefulSet", "ironflow-nats")
	assert.EqualValues(t, 3, nestedInt(t, sts, "spec", "replicas"))
	assert.Equal(t, []string{
		"nats://ironflow-nats-0.ironflow-nats-headless:6222",
		"nats://ironflow-nats-1.ironflow-nats-headless:6222",
		"nats://ironflow-nats-2.ironflow-nats-headless:6222",
	}, natsRoutes(t, r))

	pg := r.must(t, "Cluster", "ironflow-pg")
	assert.EqualValues(t, 3, nestedInt(t, pg, "spec", "instances"))

	pooler := r.must(t, "Pooler", "ironflow-pg-pooler-rw")
	assert.Equal(t, "postgresql.cnpg.io/v1", pooler.GetAPIVersion())
	assert.Equal(t, "ironflow-pg", nestedString(t, pooler, "spec", "cluster", "name"))
	assert.EqualValues(t, 2, nestedInt(t, pooler, "spec", "instances"))
	assert.Equal(t, "rw", nestedString(t, pooler, "spec", "type"))
	assert.Equal(t, "transaction", nestedString(t, pooler, "spec", "pgbouncer", "poolMode"))
	params := nestedStringMap(t, pooler, "spec", "pgbouncer", "parameters")
	assert.Equal(t, "1000", params["max_client_conn"])
	assert.Equal(t, "20", params["default_pool_size"])

	pgParams := nestedStringMap(t, pg, "spec", "postgresql", "parameters")
	assert.Equal(t, "200", pgParams["max_connections"], "max_connections is rendered as a string")

	pdb := r.must(t, "PodDisruptionBudget", "ironflow")
	assert.EqualValues(t, 1, nestedInt(t, pdb, "spec", "maxUnavailable"))

	assert.Empty(t, r.ofKind("HorizontalPodAutoscaler"), "autoscaling is off in medium")

	// Medium resources are larger than the defaults.
	c := firstContainer(t, dep)
	assert.NotEqual(t, "100m", mustNested(t, c, "resources", "requests", "cpu"))
}

func TestLarge(t *testing.T) {
	r := render(t, "values-large.yaml")

	dep := r.must(t, "Deployment", "ironflow")
	// The HPA owns the replica count: the key must be absent, not just 0/null.
	spec, _, _ := unstructured.NestedMap(dep.Object, "spec")
	assert.NotContains(t, spec, "replicas", "Deployment must not set spec.replicas when autoscaling is enabled")

	hpa := r.must(t, "HorizontalPodAutoscaler", "ironflow")
	assert.Equal(t, "autoscaling/v2", hpa.GetAPIVersion())
	assert.EqualValues(t, 3, nestedInt(t, hpa, "spec", "minReplicas"))
	assert.EqualValues(t, 10, nestedInt(t, hpa, "spec", "maxReplicas"))
	assert.Equal(t, "Deployment", nestedString(t, hpa, "spec", "scaleTargetRef", "kind"))
	assert.Equal(t, "ironflow", nestedString(t, hpa, "spec", "scaleTargetRef", "name"))
	assert.Equal(t, "Max", nestedString(t, hpa, "spec", "behavior", "scaleUp", "selectPolicy"))
	assert.EqualValues(t, 300, nestedInt(t, hpa, "spec", "behavior", "scaleDown", "stabilizationWindowSeconds"))

	metrics, _, _ := unstructured.NestedSlice(hpa.Object, "spec", "metrics")
	targets := map[string]int64{}
	for _, m := range metrics {
		mm := m.(map[string]interface{})
		if mm["type"] != "Resource" {
			continue
		}
		res := mm["resource"].(map[string]interface{})
		targets[res["name"].(string)] = res["target"].(map[string]interface{})["averageUtilization"].(int64)
	}
	assert.Equal(t, map[string]int64{"cpu": 70, "memory": 80}, targets)

	// Same topology as medium.
	assert.EqualValues(t, 3, nestedInt(t, r.must(t, "StatefulSet", "ironflow-nats"), "spec", "replicas"))
	assert.Len(t, natsRoutes(t, r), 3)
	assert.EqualValues(t, 3, nestedInt(t, r.must(t, "Cluster", "ironflow-pg"), "spec", "instances"))
	r.must(t, "Pooler", "ironflow-pg-pooler-rw")
	r.must(t, "Service", "ironflow-peers")
}

func TestMultiTenant(t *testing.T) {
	r := render(t, "values-multi-tenant.yaml")

	var nsNames []string
	for _, ns := range r.ofKind("Namespace") {
		assert.Equal(t, "v1", ns.GetAPIVersion())
		nsNames = append(nsNames, ns.GetName())
	}
	assert.ElementsMatch(t, []string{"tenant-acme", "tenant-globex", "tenant-initech"}, nsNames)

	// Expected limits, straight from values-multi-tenant.yaml.
	raw, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-multi-tenant.yaml"))
	require.NoError(t, err)
	tenants, ok := raw["tenants"].([]interface{})
	require.True(t, ok)
	require.Len(t, tenants, 3)

	tenantQuotas := 0
	for _, q := range r.ofKind("ResourceQuota") {
		if strings.HasPrefix(q.GetNamespace(), "tenant-") {
			tenantQuotas++
			assert.Equal(t, "tenant-quota", q.GetName())
		}
	}
	assert.Equal(t, 3, tenantQuotas, "one ResourceQuota per tenant")

	for _, tv := range tenants {
		tm := tv.(map[string]interface{})
		name := tm["name"].(string)
		var quota *unstructured.Unstructured
		for _, q := range r.ofKind("ResourceQuota") {
			if q.GetNamespace() == "tenant-"+name {
				quota = q
			}
		}
		require.NotNil(t, quota, "no quota for tenant %s", name)
		want := map[string]string{}
		for k, v := range tm["hard"].(map[string]interface{}) {
			want[k] = fmt.Sprint(v)
		}
		assert.Equal(t, want, hardOf(t, quota), "tenant %s", name)
	}

	// Spot-check literal values so a silent change of the values file is caught.
	acme := hardOf(t, findQuota(t, r, "tenant-acme"))
	assert.Equal(t, "4", acme["requests.cpu"])
	assert.Equal(t, "20", acme["pods"])
	initech := hardOf(t, findQuota(t, r, "tenant-initech"))
	assert.Equal(t, "16", initech["limits.cpu"])

	// Release-namespace quota.
	rq := r.must(t, "ResourceQuota", "ironflow-quota")
	assert.Equal(t, namespace, rq.GetNamespace())
	assert.Equal(t, map[string]string{
		"requests.cpu":    "8",
		"requests.memory": "16Gi",
		"limits.cpu":      "16",
		"limits.memory":   "32Gi",
		"pods":            "50",
	}, hardOf(t, rq))

	// The rest of the chart keeps its defaults.
	assert.EqualValues(t, 1, nestedInt(t, r.must(t, "Deployment", "ironflow"), "spec", "replicas"))
	assert.Empty(t, r.ofKind("Cluster"))
}

// hardOf returns a ResourceQuota's spec.hard with every quantity as a string
// (quantities may be written as YAML numbers or strings).
func hardOf(t *testing.T, q *unstructured.Unstructured) map[string]string {
	t.Helper()
	m, found, err := unstructured.NestedMap(q.Object, "spec", "hard")
	require.NoError(t, err)
	require.True(t, found, "%s/%s has no spec.hard", q.GetNamespace(), q.GetName())
	res := make(map[string]string, len(m))
	for k, v := range m {
		res[k] = fmt.Sprint(v)
	}
	return res
}

func findQuota(t *testing.T, r *rendered, ns string) *unstructured.Unstructured {
	t.Helper()
	for _, q := range r.ofKind("ResourceQuota") {
		if q.GetNamespace() == ns {
			return q
		}
	}
	require.FailNow(t, "no ResourceQuota in namespace "+ns)
	return nil
}

// TestValuePathsExist guards the value paths the operators' runbook relies on:
// renaming one of them in values.yaml must fail here.
func TestValuePathsExist(t *testing.T) {
	vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values.yaml"))
	require.NoError(t, err)
	for _, p := range []string{
		"replicaCount", "image.repository", "image.tag", "image.pullPolicy",
		"resources.requests.cpu", "resources.requests.memory", "resources.limits.cpu", "resources.limits.memory",
		"service.port", "ingress.enabled", "ingress.host", "cluster.enabled",
		"podDisruptionBudget.enabled", "podDisruptionBudget.maxUnavailable",
		"autoscaling.enabled", "autoscaling.minReplicas", "autoscaling.maxReplicas",
		"autoscaling.targetCPUUtilizationPercentage", "autoscaling.behavior", "autoscaling.metrics",
		"nats.enabled", "nats.config.cluster.enabled", "nats.config.cluster.replicas",
		"nats.config.jetstream.enabled", "nats.config.jetstream.fileStore.pvc.size",
		"nats.config.jetstream.fileStore.pvc.storageClassName", "nats.resources",
		"postgresql.enabled", "postgresql.instances", "postgresql.persistence.size",
		"postgresql.persistence.storageClass",
		"postgresql.pooler.enabled", "postgresql.pooler.instances", "postgresql.pooler.type",
		"postgresql.pooler.poolMode", "postgresql.pooler.maxClientConn", "postgresql.pooler.defaultPoolSize",
		"database.poolSize", "resourceQuota.enabled", "resourceQuota.hard", "tenants",
		"tolerations", "nodeSelector",
	} {
		err := lookupAny(vals, p)
		assert.NoError(t, err, "values.yaml must define %s", p)
	}
}

// lookupAny resolves a dotted path to any value (map, list or scalar).
func lookupAny(v chartutil.Values, path string) error {
	var cur interface{} = map[string]interface{}(v)
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return fmt.Errorf("%s: %q is not a map", path, part)
		}
		if cur, ok = m[part]; !ok {
			return fmt.Errorf("%s: no key %q", path, part)
		}
	}
	return nil
}

func TestAutoscalingPassthroughAndOptionalMetrics(t *testing.T) {
	r := renderValues(t, map[string]interface{}{
		"autoscaling": map[string]interface{}{
			"enabled":                        true,
			"minReplicas":                    2,
			"maxReplicas":                    4,
			"targetCPUUtilizationPercentage": nil, // null removes the default CPU metric
			"metrics": []interface{}{
				map[string]interface{}{
					"type": "Pods",
					"pods": map[string]interface{}{
						"metric": map[string]interface{}{"name": "ironflow_queue_depth"},
						"target": map[string]interface{}{"type": "AverageValue", "averageValue": "100"},
					},
				},
			},
		},
	})

	hpa := r.must(t, "HorizontalPodAutoscaler", "ironflow")
	metrics, _, err := unstructured.NestedSlice(hpa.Object, "spec", "metrics")
	require.NoError(t, err)
	require.Len(t, metrics, 1, "only the verbatim Pods metric remains")
	m := metrics[0].(map[string]interface{})
	assert.Equal(t, "Pods", m["type"])
	assert.Equal(t, "ironflow_queue_depth", mustNested(t, m, "pods", "metric", "name"))
	assert.False(t, hasField(hpa, "spec", "behavior"), "no behavior unless configured")

	spec, _, _ := unstructured.NestedMap(r.must(t, "Deployment", "ironflow").Object, "spec")
	assert.NotContains(t, spec, "replicas")
}

func TestIngressAndScheduling(t *testing.T) {
	r := renderValues(t, map[string]interface{}{
		"ingress":      map[string]interface{}{"enabled": true, "host": "ironflow.example.com"},
		"nodeSelector": map[string]interface{}{"type": "kwok"},
		"tolerations": []interface{}{
			map[string]interface{}{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
		},
	})

	ing := r.must(t, "Ingress", "ironflow")
	assert.Equal(t, "networking.k8s.io/v1", ing.GetAPIVersion())
	rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	require.Len(t, rules, 1)
	assert.Equal(t, "ironflow.example.com", rules[0].(map[string]interface{})["host"])

	dep := r.must(t, "Deployment", "ironflow")
	assert.Equal(t, map[string]string{"type": "kwok"}, nestedStringMap(t, dep, "spec", "template", "spec", "nodeSelector"))
	tol, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "tolerations")
	assert.Len(t, tol, 1)
}
