package charts_test

// These tests render the reference chart in ./ironflow with Helm's Go API
// (loader -> chartutil.ProcessDependenciesWithMerge -> chartutil.ToRenderValues
// -> engine.Render), exactly as `helm template ironflow ./ironflow -n demo -f
// <file>` or `helm install/upgrade` would: the subcharts in ironflow/charts
// (nats, postgresql) are dropped when their condition (nats.enabled,
// postgresql.enabled) is false. They assert on the decoded objects. No cluster
// and no helm binary are needed.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
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
	// sources maps "Kind/name" to the template that rendered it.
	sources map[string]string
	// subcharts are the dependencies left after condition processing.
	subcharts []string
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
	return renderRelease(t, releaseName, overrides)
}

// renderRelease is renderValues for another release name.
func renderRelease(t *testing.T, release string, overrides map[string]interface{}) *rendered {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	require.NoError(t, err, "load chart")
	// As `helm install/upgrade/template` do: drop the dependencies whose
	// condition is false (and import values) before computing the values.
	require.NoError(t, chartutil.ProcessDependenciesWithMerge(chrt, overrides), "process dependencies")
	out, err := renderChart(chrt, release, overrides)
	require.NoError(t, err, "render chart with %v", overrides)
	r := decode(t, out)
	for _, d := range chrt.Dependencies() {
		r.subcharts = append(r.subcharts, d.Name())
	}
	sort.Strings(r.subcharts)
	return r
}

// renderChart renders an already loaded (and processed) chart.
func renderChart(chrt *chart.Chart, release string, overrides map[string]interface{}) (map[string]string, error) {
	renderVals, err := chartutil.ToRenderValues(chrt, overrides, chartutil.ReleaseOptions{
		Name:      release,
		Namespace: namespace,
		Revision:  1,
		IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("compose render values: %w", err)
	}
	return engine.Render(chrt, renderVals)
}

// decode splits rendered templates into objects.
func decode(t *testing.T, out map[string]string) *rendered {
	t.Helper()

	// Deterministic order: sort by template path.
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)

	r := &rendered{sources: map[string]string{}}
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
			r.sources[u.GetKind()+"/"+u.GetName()] = name
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
	return natsRouteRE.FindAllString(natsConf(t, r), -1)
}

// natsConf is the rendered nats.conf.
func natsConf(t *testing.T, r *rendered) string {
	t.Helper()
	cm := r.must(t, "ConfigMap", releaseName+"-nats-config")
	return nestedString(t, cm, "data", "nats.conf")
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
		"v1/Secret":                              func() interface{} { return &corev1.Secret{} },
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
	assert.NotContains(t, natsConf(t, r), `"cluster"`)
	r.must(t, "Service", "ironflow-nats")
	r.must(t, "Service", "ironflow-nats-headless")
	// Like the official chart, the NATS PDB exists whatever the number of
	// servers; with maxUnavailable 1 it never blocks draining a single server.
	natsPDB := r.must(t, "PodDisruptionBudget", "ironflow-nats")
	assert.EqualValues(t, 1, nestedInt(t, natsPDB, "spec", "maxUnavailable"))
	assert.Equal(t, []string{"nats"}, r.subcharts, "postgresql is disabled by default, so Helm drops the subchart")
	// KWOK-friendly: nothing pins the NATS pods either.
	assert.False(t, hasField(sts, "spec", "template", "spec", "nodeSelector"))
	assert.False(t, hasField(sts, "spec", "template", "spec", "affinity"))
	assert.False(t, hasField(sts, "spec", "template", "spec", "tolerations"))

	// Everything optional is off.
	for _, kind := range []string{"HorizontalPodAutoscaler", "Cluster", "Pooler", "Ingress", "ResourceQuota", "Namespace"} {
		assert.Empty(t, r.ofKind(kind), "no %s by default", kind)
	}
	assert.Nil(t, r.get("PodDisruptionBudget", "ironflow"), "no app PDB by default")
	assert.Len(t, r.ofKind("PodDisruptionBudget"), 1, "only the NATS PDB")
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
	// The official chart names the client port "nats".
	assert.Equal(t, map[string]int64{"nats": 4222, "cluster": 6222, "monitor": 8222}, ports)
	assert.Equal(t, "/healthz?js-server-only=true", mustNested(t, c, "readinessProbe", "httpGet", "path"))
	assert.Equal(t, "/healthz?js-enabled-only=true", mustNested(t, c, "livenessProbe", "httpGet", "path"))
	assert.Equal(t, "/healthz", mustNested(t, c, "startupProbe", "httpGet", "path"))
	// The probes use the named monitor port, which is 8222.
	for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		assert.Equal(t, "monitor", mustNested(t, c, probe, "httpGet", "port"), probe)
	}
	assert.EqualValues(t, 8222, ports["monitor"])
	assert.Equal(t, []interface{}{"nats-server", "-sl=ldm=/var/run/nats/nats.pid"}, mustNested(t, c, "lifecycle", "preStop", "exec", "command"))
	assert.Equal(t, map[string]interface{}{
		"requests": map[string]interface{}{"cpu": "250m", "memory": "512Mi"},
		"limits":   map[string]interface{}{"cpu": "1", "memory": "1Gi"},
	}, mustNested(t, c, "resources"), "nats.container.merge.resources from values-medium.yaml")
	mounts := map[string]string{}
	for _, m := range c["volumeMounts"].([]interface{}) {
		mm := m.(map[string]interface{})
		mounts[mm["name"].(string)] = mm["mountPath"].(string)
	}
	assert.Equal(t, map[string]string{"config": "/etc/nats-config", "pid": "/var/run/nats", "ironflow-nats-js": "/data"}, mounts,
		"the JetStream volume is mounted at fileStore.dir, nats.conf's store_dir")

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
	assert.Equal(t, nestedStringMap(t, sts, "spec", "selector", "matchLabels"), nestedStringMap(t, pdb, "spec", "selector", "matchLabels"))
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
	// One release per tenant (`helm install acme ... -n tenant-acme -f
	// values-multi-tenant.yaml --set ingress.host=...`): the profile is the
	// runbook's tenant isolation as the release's own quota, and renders
	// nothing outside the release's namespace.
	raw, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-multi-tenant.yaml"))
	require.NoError(t, err)
	assert.Equal(t, []string{"resourceQuota"}, keysOf(raw.AsMap()), "the profile sets the quota only")
	vals := raw.AsMap()
	vals["ingress"] = map[string]interface{}{"enabled": true, "host": "acme.ironflow.example.com"}
	r := renderRelease(t, "acme", vals)

	assert.Empty(t, r.ofKind("Namespace"), "a tenant's release renders no namespace: the tenant's namespace is created beside it")
	quotas := r.ofKind("ResourceQuota")
	require.Len(t, quotas, 1, "one ResourceQuota: the tenant's")
	q := quotas[0]
	assert.Equal(t, "acme-ironflow-quota", q.GetName())
	assert.Equal(t, namespace, q.GetNamespace())
	assert.Equal(t, map[string]string{
		"requests.cpu":     "2",
		"limits.cpu":       "4",
		"requests.memory":  "4Gi",
		"limits.memory":    "8Gi",
		"requests.storage": "50Gi",
		"pods":             "20",
	}, hardOf(t, q), "the runbook's tenant isolation")
	for _, o := range r.objs {
		if ns := o.GetNamespace(); ns != "" {
			assert.Equal(t, namespace, ns, "%s/%s is outside the release namespace", o.GetKind(), o.GetName())
		}
	}
	rules, _, err := unstructured.NestedSlice(r.must(t, "Ingress", "acme-ironflow").Object, "spec", "rules")
	require.NoError(t, err)
	require.Len(t, rules, 1)
	assert.Equal(t, "acme.ironflow.example.com", rules[0].(map[string]interface{})["host"], "the per-tenant value")

	// The rest of the chart keeps its defaults.
	assert.EqualValues(t, 1, nestedInt(t, r.must(t, "Deployment", "acme-ironflow"), "spec", "replicas"))
	assert.Empty(t, r.ofKind("Cluster"))
}

func keysOf(m map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
		"nats.config.jetstream.fileStore.pvc.storageClassName", "nats.container.merge.resources",
		"nats.container.image.repository", "nats.container.image.tag",
		"nats.podTemplate.configChecksumAnnotation", "nats.reloader.enabled",
		"postgresql.enabled", "postgresql.instances", "postgresql.persistence.size",
		"postgresql.persistence.storageClass",
		"postgresql.pooler.enabled", "postgresql.pooler.instances", "postgresql.pooler.type",
		"postgresql.pooler.poolMode", "postgresql.pooler.maxClientConn", "postgresql.pooler.defaultPoolSize",
		"database.poolSize", "resourceQuota.enabled", "resourceQuota.hard",
		"tolerations", "nodeSelector",
	} {
		err := lookupAny(vals, p)
		assert.NoError(t, err, "values.yaml must define %s", p)
	}

	// The same paths, and the subcharts' own, in the values Helm computes
	// (values.yaml coalesced with charts/*/values.yaml).
	chrt, err := loader.Load(chartDir)
	require.NoError(t, err)
	computed, err := chartutil.CoalesceValues(chrt, map[string]interface{}{})
	require.NoError(t, err)
	for _, p := range []string{
		"nats.config.cluster.port", "nats.config.nats.port", "nats.config.monitor.port",
		"nats.config.jetstream.fileStore.enabled", "nats.config.jetstream.fileStore.dir",
		"nats.config.jetstream.fileStore.pvc.enabled", "nats.config.serverNamePrefix",
		"nats.fullnameOverride", "nats.nameOverride", "nats.statefulSet.name",
		"nats.container.image.pullPolicy", "nats.podTemplate.merge", "nats.natsBox.enabled",
		"nats.podDisruptionBudget.enabled",
		"postgresql.database", "postgresql.resources", "postgresql.nodeSelector", "postgresql.tolerations",
		"postgresql.pooler.resources", "postgresql.appName",
	} {
		assert.NoError(t, lookupAny(computed, p), "the computed values must define %s", p)
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

// ---------------------------------------------------------------------------
// Subcharts: charts/nats follows the official nats-io/k8s chart, and
// charts/postgresql holds the CNPG objects.

// natsObjects are the objects the nats subchart renders for release
// "ironflow", under the official chart's names.
var natsObjects = []string{
	"StatefulSet/ironflow-nats",
	"Service/ironflow-nats",
	"Service/ironflow-nats-headless",
	"ConfigMap/ironflow-nats-config",
	"PodDisruptionBudget/ironflow-nats",
	"Deployment/ironflow-nats-box",
	"Secret/ironflow-nats-box-contexts",
}

func TestNATSSubchartObjects(t *testing.T) {
	for name, file := range scenarios {
		t.Run(name, func(t *testing.T) {
			r := render(t, file)
			assert.Contains(t, r.subcharts, "nats")
			for _, id := range natsObjects {
				kind, objName, _ := strings.Cut(id, "/")
				o := r.must(t, kind, objName)
				assert.True(t, strings.HasPrefix(r.sources[id], "ironflow/charts/nats/templates/"), "%s comes from %s", id, r.sources[id])
				labels := o.GetLabels()
				assert.Equal(t, "nats-2.14.2", labels["helm.sh/chart"], id)
				assert.Equal(t, "2.14.2", labels["app.kubernetes.io/version"], id)
				assert.Equal(t, "nats", labels["app.kubernetes.io/name"], id)
				assert.Equal(t, releaseName, labels["app.kubernetes.io/instance"], id)
				assert.Equal(t, "Helm", labels["app.kubernetes.io/managed-by"], id)
			}
		})
	}

	r := render(t, "values-medium.yaml")
	box := r.must(t, "Deployment", "ironflow-nats-box")
	boxSel := nestedStringMap(t, box, "spec", "selector", "matchLabels")
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/name":      "nats",
		"app.kubernetes.io/instance":  "ironflow",
		"app.kubernetes.io/component": "nats-box",
	}, boxSel, "nats-box pods are not matched by the NATS Services, PDB or StatefulSet")
	assert.EqualValues(t, 1, nestedInt(t, box, "spec", "replicas"))
	bc := firstContainer(t, box)
	assert.Equal(t, "nats-box", bc["name"])
	assert.Equal(t, "natsio/nats-box:0.19.7", bc["image"])
	assert.NotEmpty(t, mustNested(t, bc, "resources", "limits"), "nats-box declares limits (resourceQuota limits.*)")
	secret := r.must(t, "Secret", "ironflow-nats-box-contexts")
	ctxJSON := nestedString(t, secret, "stringData", "default.json")
	var ctx map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(ctxJSON), &ctx))
	assert.Equal(t, "nats://ironflow-nats", ctx["url"])

	client := r.must(t, "Service", "ironflow-nats")
	cp, _, _ := unstructured.NestedSlice(client.Object, "spec", "ports")
	require.Len(t, cp, 1, "the client Service exposes the client port only")
	assert.Equal(t, map[string]interface{}{"name": "nats", "port": int64(4222), "targetPort": "nats", "appProtocol": "tcp"}, cp[0])

	for _, id := range []string{"Cluster/ironflow-pg", "Pooler/ironflow-pg-pooler-rw"} {
		kind, objName, _ := strings.Cut(id, "/")
		o := r.must(t, kind, objName)
		assert.True(t, strings.HasPrefix(r.sources[id], "ironflow/charts/postgresql/templates/"), "%s comes from %s", id, r.sources[id])
		assert.Equal(t, "postgresql-0.1.0", o.GetLabels()["helm.sh/chart"], id)
		assert.Equal(t, releaseName, o.GetLabels()["app.kubernetes.io/instance"], id)
		assert.Equal(t, "ironflow", o.GetLabels()["app.kubernetes.io/part-of"], id)
	}
	assert.Equal(t, "postgresql", r.must(t, "Cluster", "ironflow-pg").GetLabels()["app.kubernetes.io/component"])
	assert.Equal(t, "pooler", r.must(t, "Pooler", "ironflow-pg-pooler-rw").GetLabels()["app.kubernetes.io/component"])
}

// TestDependencyConditions: nats.enabled and postgresql.enabled are the
// dependencies' conditions; false drops the whole subchart.
func TestDependencyConditions(t *testing.T) {
	medium := func(set map[string]interface{}) map[string]interface{} {
		vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-medium.yaml"))
		require.NoError(t, err)
		return chartutil.CoalesceTables(set, vals.AsMap())
	}

	t.Run("both enabled", func(t *testing.T) {
		r := render(t, "values-medium.yaml")
		assert.Equal(t, []string{"nats", "postgresql"}, r.subcharts)
	})

	t.Run("nats disabled", func(t *testing.T) {
		r := renderValues(t, medium(map[string]interface{}{"nats": map[string]interface{}{"enabled": false}}))
		assert.Equal(t, []string{"postgresql"}, r.subcharts)
		for _, id := range natsObjects {
			kind, objName, _ := strings.Cut(id, "/")
			assert.Nil(t, r.get(kind, objName), "%s must not render with nats.enabled=false", id)
		}
		for id, src := range r.sources {
			assert.False(t, strings.Contains(src, "/charts/nats/"), "%s rendered by %s", id, src)
		}
		assert.Empty(t, r.ofKind("StatefulSet"))
		assert.Empty(t, r.ofKind("ConfigMap"))
		assert.NotContains(t, containerEnv(t, r.must(t, "Deployment", "ironflow")), "NATS_URL")
		r.must(t, "Cluster", "ironflow-pg")
	})

	t.Run("postgresql disabled", func(t *testing.T) {
		r := renderValues(t, medium(map[string]interface{}{"postgresql": map[string]interface{}{"enabled": false}}))
		assert.Equal(t, []string{"nats"}, r.subcharts)
		assert.Empty(t, r.ofKind("Cluster"))
		assert.Empty(t, r.ofKind("Pooler"))
		for _, o := range r.objs {
			assert.NotEqual(t, "postgresql.cnpg.io/v1", o.GetAPIVersion(), "%s/%s", o.GetKind(), o.GetName())
		}
		env := containerEnv(t, r.must(t, "Deployment", "ironflow"))
		for _, k := range []string{"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"} {
			assert.NotContains(t, env, k)
		}
		r.must(t, "StatefulSet", "ironflow-nats")
	})

	// Conditions act only through dependency processing: engine.Render alone
	// renders every subchart the chart holds (so does any render path that
	// skips chartutil.ProcessDependencies*).
	t.Run("only through dependency processing", func(t *testing.T) {
		chrt, err := loader.Load(chartDir)
		require.NoError(t, err)
		out, err := renderChart(chrt, releaseName, map[string]interface{}{"nats": map[string]interface{}{"enabled": false}})
		require.NoError(t, err)
		assert.NotNil(t, decode(t, out).get("StatefulSet", "ironflow-nats"))
	})

	// Helm stores the processed chart in the release: a release installed
	// with nats disabled has no nats subchart. Enabling NATS from that stored
	// chart fails with a message instead of rendering a URL to nothing.
	t.Run("enabled but subchart missing", func(t *testing.T) {
		chrt, err := loader.Load(chartDir)
		require.NoError(t, err)
		off := map[string]interface{}{"nats": map[string]interface{}{"enabled": false}}
		require.NoError(t, chartutil.ProcessDependenciesWithMerge(chrt, off))
		on := map[string]interface{}{"nats": map[string]interface{}{"enabled": true}}
		require.NoError(t, chartutil.ProcessDependenciesWithMerge(chrt, on))
		_, err = renderChart(chrt, releaseName, on)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nats.enabled is true but the chart has no nats subchart")
	})
}

// TestChartLockMatchesDependencies: Chart.lock must be the lock
// `helm dependency update` writes for Chart.yaml's dependencies, or
// `helm dependency build` refuses it as out of sync.
func TestChartLockMatchesDependencies(t *testing.T) {
	chrt, err := loader.Load(chartDir)
	require.NoError(t, err)
	require.NotNil(t, chrt.Lock, "Chart.lock")
	require.Len(t, chrt.Metadata.Dependencies, 2)
	// The digest helm's resolver.HashReq computes.
	data, err := json.Marshal([2][]*chart.Dependency{chrt.Metadata.Dependencies, chrt.Lock.Dependencies})
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), chrt.Lock.Digest, "Chart.lock digest is out of sync with Chart.yaml")

	subcharts := map[string]*chart.Chart{}
	for _, d := range chrt.Dependencies() {
		subcharts[d.Name()] = d
	}
	want := map[string][2]string{"nats": {"2.14.2", "nats.enabled"}, "postgresql": {"0.1.0", "postgresql.enabled"}}
	for i, d := range chrt.Metadata.Dependencies {
		w, ok := want[d.Name]
		require.True(t, ok, "unexpected dependency %s", d.Name)
		assert.Equal(t, w[0], d.Version, d.Name)
		assert.Equal(t, w[1], d.Condition, d.Name)
		assert.Equal(t, "file://charts/"+d.Name, d.Repository, d.Name)
		assert.Equal(t, d.Name, chrt.Lock.Dependencies[i].Name)
		assert.Equal(t, d.Version, chrt.Lock.Dependencies[i].Version, d.Name)
		sub := subcharts[d.Name]
		require.NotNil(t, sub, "charts/%s is vendored", d.Name)
		assert.Equal(t, d.Version, sub.Metadata.Version, "charts/%s/Chart.yaml version", d.Name)
	}
	assert.Len(t, chrt.Dependencies(), 2, "exactly the two unpacked subcharts (charts/*.tgz are ignored)")
	assert.Equal(t, "2.14.2", subcharts["nats"].Metadata.AppVersion)
}

const mediumNATSConf = `{
  "cluster": {
    "name": "ironflow-nats",
    "no_advertise": true,
    "port": 6222,
    "routes": [
      "nats://ironflow-nats-0.ironflow-nats-headless:6222",
      "nats://ironflow-nats-1.ironflow-nats-headless:6222",
      "nats://ironflow-nats-2.ironflow-nats-headless:6222"
    ]
  },
  "http_port": 8222,
  "jetstream": {
    "max_file_store": 20Gi,
    "max_memory_store": 0,
    "store_dir": "/data"
  },
  "lame_duck_duration": "30s",
  "lame_duck_grace_period": "10s",
  "pid_file": "/var/run/nats/nats.pid",
  "port": 4222,
  "server_name": $SERVER_NAME
}
`

// TestNATSConfOfficialFormat: nats.conf is written the way the official
// chart writes it (sorted JSON, raw << >> tokens), and nats-server reads it.
func TestNATSConfOfficialFormat(t *testing.T) {
	r := render(t, "values-medium.yaml")
	conf := natsConf(t, r)
	assert.Equal(t, mediumNATSConf, conf)
	assert.Contains(t, conf, `"cluster": {`)
	assert.Contains(t, conf, `"max_file_store": 20Gi,`)
	assert.Contains(t, conf, `"server_name": $SERVER_NAME`)
	assert.NotContains(t, conf, "<<")

	t.Setenv("SERVER_NAME", "ironflow-nats-1")
	opts := natsServerOptions(t, conf)
	assert.Equal(t, "ironflow-nats-1", opts.ServerName)
	assert.Equal(t, "ironflow-nats", opts.Cluster.Name)
	assert.Equal(t, 6222, opts.Cluster.Port)
	assert.True(t, opts.Cluster.NoAdvertise)
	var routes []string
	for _, u := range opts.Routes {
		routes = append(routes, u.String())
	}
	assert.Equal(t, natsRoutes(t, r), routes)
	assert.True(t, opts.JetStream)
	assert.Equal(t, "/data", opts.StoreDir)
	assert.EqualValues(t, 20<<30, opts.JetStreamMaxStore)
	assert.Equal(t, 4222, opts.Port)
	assert.Equal(t, 8222, opts.HTTPPort)
	assert.Equal(t, "/var/run/nats/nats.pid", opts.PidFile)

	// Without clustering there is no cluster block at all.
	small := natsConf(t, render(t, "values-small.yaml"))
	assert.NotContains(t, small, `"cluster"`)
	assert.Contains(t, small, `"max_file_store": 10Gi,`)
	t.Setenv("SERVER_NAME", "ironflow-nats-0")
	opts = natsServerOptions(t, small)
	assert.Empty(t, opts.Routes)
	assert.Zero(t, opts.Cluster.Port)
}

// natsServerOptions parses a nats.conf with nats-server's own parser.
func natsServerOptions(t *testing.T, conf string) *server.Options {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err, "nats-server rejects nats.conf:\n%s", conf)
	return opts
}

func TestNATSClusterRoutesFollowReplicas(t *testing.T) {
	r := renderValues(t, map[string]interface{}{"nats": map[string]interface{}{
		"config": map[string]interface{}{"cluster": map[string]interface{}{"enabled": true, "replicas": 5}},
	}})
	assert.EqualValues(t, 5, nestedInt(t, r.must(t, "StatefulSet", "ironflow-nats"), "spec", "replicas"))
	conf := natsConf(t, r)
	assert.Contains(t, conf, `"cluster": {`)
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("nats://ironflow-nats-%d.ironflow-nats-headless:6222", i))
	}
	assert.Equal(t, want, natsRoutes(t, r))
}

func TestNATSServerNamePrefix(t *testing.T) {
	r := renderValues(t, map[string]interface{}{"nats": map[string]interface{}{
		"config": map[string]interface{}{"serverNamePrefix": "east-"},
	}})
	sts := r.must(t, "StatefulSet", "ironflow-nats")
	env := containerEnv(t, sts)
	assert.Equal(t, "<valueFrom>", env["POD_NAME"])
	assert.Equal(t, "east-$(POD_NAME)", env["SERVER_NAME"], "Kubernetes expands $(POD_NAME)")
	conf := natsConf(t, r)
	assert.Contains(t, conf, `"server_name": $SERVER_NAME`)

	// What the kubelet and nats-server make of it for pod ironflow-nats-0.
	t.Setenv("SERVER_NAME", strings.ReplaceAll(env["SERVER_NAME"], "$(POD_NAME)", "ironflow-nats-0"))
	assert.Equal(t, "east-ironflow-nats-0", natsServerOptions(t, conf).ServerName)

	// Default: no prefix, the server name is the pod name.
	assert.Equal(t, "$(POD_NAME)", containerEnv(t, render(t, "").must(t, "StatefulSet", "ironflow-nats"))["SERVER_NAME"])
}

func TestNATSNames(t *testing.T) {
	t.Run("fullnameOverride", func(t *testing.T) {
		r := renderValues(t, map[string]interface{}{"nats": map[string]interface{}{
			"fullnameOverride": "mq",
			"config":           map[string]interface{}{"cluster": map[string]interface{}{"enabled": true}},
		}})
		sts := r.must(t, "StatefulSet", "mq")
		assert.Nil(t, r.get("StatefulSet", "ironflow-nats"))
		assert.Equal(t, "mq-headless", nestedString(t, sts, "spec", "serviceName"))
		r.must(t, "Service", "mq")
		r.must(t, "Service", "mq-headless")
		r.must(t, "PodDisruptionBudget", "mq")
		r.must(t, "Deployment", "mq-box")
		cm := r.must(t, "ConfigMap", "mq-config")
		vcts, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
		require.Len(t, vcts, 1)
		assert.Equal(t, "mq-js", vcts[0].(map[string]interface{})["metadata"].(map[string]interface{})["name"])
		conf := nestedString(t, cm, "data", "nats.conf")
		assert.Contains(t, conf, `"name": "mq",`)
		assert.Equal(t, []string{
			"nats://mq-0.mq-headless:6222", "nats://mq-1.mq-headless:6222", "nats://mq-2.mq-headless:6222",
		}, natsRouteRE.FindAllString(conf, -1))
		assert.Equal(t, "nats://mq:4222", containerEnv(t, r.must(t, "Deployment", "ironflow"))["NATS_URL"], "the app follows the subchart's names")
		// Selector labels do not depend on the name.
		assert.Equal(t, "nats", nestedStringMap(t, sts, "spec", "selector", "matchLabels")["app.kubernetes.io/name"])
	})

	t.Run("statefulSet.name", func(t *testing.T) {
		r := renderValues(t, map[string]interface{}{"nats": map[string]interface{}{
			"statefulSet": map[string]interface{}{"name": "mq-servers"},
			"config":      map[string]interface{}{"cluster": map[string]interface{}{"enabled": true}},
		}})
		sts := r.must(t, "StatefulSet", "mq-servers")
		assert.Equal(t, "ironflow-nats-headless", nestedString(t, sts, "spec", "serviceName"))
		assert.Equal(t, "nats://mq-servers-0.ironflow-nats-headless:6222", natsRoutes(t, r)[0])
		assert.Contains(t, natsConf(t, r), `"name": "mq-servers",`)
	})

	t.Run("release name containing nats", func(t *testing.T) {
		r := renderRelease(t, "my-nats", nil)
		r.must(t, "StatefulSet", "my-nats")
		r.must(t, "Service", "my-nats-headless")
		r.must(t, "ConfigMap", "my-nats-config")
		dep := r.must(t, "Deployment", "my-nats-ironflow")
		assert.Equal(t, "nats://my-nats:4222", containerEnv(t, dep)["NATS_URL"])
	})

	t.Run("other release", func(t *testing.T) {
		r := renderRelease(t, "prod", map[string]interface{}{"postgresql": map[string]interface{}{"enabled": true, "pooler": map[string]interface{}{"enabled": true}}})
		r.must(t, "StatefulSet", "prod-nats")
		r.must(t, "Deployment", "prod-nats-box")
		dep := r.must(t, "Deployment", "prod-ironflow")
		env := containerEnv(t, dep)
		assert.Equal(t, "nats://prod-nats:4222", env["NATS_URL"])
		assert.Equal(t, "prod-ironflow-pg-pooler-rw", env["DB_HOST"])
		pg := r.must(t, "Cluster", "prod-ironflow-pg")
		assert.Equal(t, "prod-ironflow-pg", nestedString(t, r.must(t, "Pooler", "prod-ironflow-pg-pooler-rw"), "spec", "cluster", "name"))
		assert.Equal(t, "prod", pg.GetLabels()["app.kubernetes.io/instance"])
		var secretRefs []string
		list, _, _ := unstructured.NestedSlice(firstContainer(t, dep), "env")
		for _, e := range list {
			if name, found, _ := unstructured.NestedString(e.(map[string]interface{}), "valueFrom", "secretKeyRef", "name"); found {
				secretRefs = append(secretRefs, name)
			}
		}
		assert.Equal(t, []string{"prod-ironflow-pg-app", "prod-ironflow-pg-app"}, secretRefs, "DB_USER / DB_PASSWORD from CNPG's <cluster>-app Secret")
	})
}

// TestNATSConfigRollout: as the official chart, this chart runs the config
// reloader sidecar and no checksum annotation by default; rolling the
// servers on a config change (checksum/config) is an option.
func TestNATSConfigRollout(t *testing.T) {
	podAnnotations := func(r *rendered) map[string]string {
		m, _, _ := unstructured.NestedStringMap(r.must(t, "StatefulSet", "ironflow-nats").Object, "spec", "template", "metadata", "annotations")
		return m
	}
	containerNames := func(r *rendered) []string {
		cs, _, _ := unstructured.NestedSlice(r.must(t, "StatefulSet", "ironflow-nats").Object, "spec", "template", "spec", "containers")
		var names []string
		for _, c := range cs {
			names = append(names, c.(map[string]interface{})["name"].(string))
		}
		return names
	}

	checksum := map[string]interface{}{
		"reloader":    map[string]interface{}{"enabled": false},
		"podTemplate": map[string]interface{}{"configChecksumAnnotation": true},
	}
	t.Run("checksum instead of reloader", func(t *testing.T) {
		vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-medium.yaml"))
		require.NoError(t, err)
		medium := chartutil.CoalesceTables(map[string]interface{}{"nats": checksum}, vals.AsMap())
		r := renderValues(t, medium)
		sum := podAnnotations(r)["checksum/config"]
		assert.Regexp(t, `^[0-9a-f]{64}$`, sum)
		assert.Equal(t, []string{"nats"}, containerNames(r))
		assert.False(t, hasField(r.must(t, "StatefulSet", "ironflow-nats"), "spec", "template", "spec", "shareProcessNamespace"))

		// A config change changes the checksum (the pods roll); an app-only
		// change does not.
		with := func(over map[string]interface{}) map[string]interface{} {
			vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-medium.yaml"))
			require.NoError(t, err)
			return chartutil.CoalesceTables(chartutil.CoalesceTables(over, map[string]interface{}{"nats": checksum}), vals.AsMap())
		}
		bigger := with(map[string]interface{}{"nats": map[string]interface{}{"config": map[string]interface{}{
			"jetstream": map[string]interface{}{"fileStore": map[string]interface{}{"pvc": map[string]interface{}{"size": "30Gi"}}},
		}}})
		assert.NotEqual(t, sum, podAnnotations(renderValues(t, bigger))["checksum/config"], "max_file_store changed")
		more := with(map[string]interface{}{"nats": map[string]interface{}{"config": map[string]interface{}{"cluster": map[string]interface{}{"replicas": 5}}}})
		assert.NotEqual(t, sum, podAnnotations(renderValues(t, more))["checksum/config"], "the routes of a new cluster size are config too: every scale step rolls the servers")
		appOnly := with(map[string]interface{}{"replicaCount": 5})
		assert.Equal(t, sum, podAnnotations(renderValues(t, appOnly))["checksum/config"])
	})

	t.Run("defaults: reloader, no checksum", func(t *testing.T) {
		r := render(t, "values-medium.yaml")
		assert.NotContains(t, podAnnotations(r), "checksum/config")
		assert.Equal(t, []string{"nats", "reloader"}, containerNames(r))
		sts := r.must(t, "StatefulSet", "ironflow-nats")
		assert.Equal(t, true, mustNested(t, sts.Object, "spec", "template", "spec", "shareProcessNamespace"))
		cs, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "containers")
		rl := cs[1].(map[string]interface{})
		assert.Equal(t, "natsio/nats-server-config-reloader:0.23.0", rl["image"])
		assert.Equal(t, []interface{}{"-pid", "/var/run/nats/nats.pid", "-config", "/etc/nats-config/nats.conf"}, rl["args"])
		var mounts []string
		for _, m := range rl["volumeMounts"].([]interface{}) {
			mm := m.(map[string]interface{})
			mounts = append(mounts, mm["name"].(string)+":"+mm["mountPath"].(string))
		}
		assert.Equal(t, []string{"pid:/var/run/nats", "config:/etc/nats-config"}, mounts)
		assert.NotEmpty(t, mustNested(t, rl, "resources", "limits"), "the reloader declares limits (resourceQuota limits.*)")
	})

	t.Run("both", func(t *testing.T) {
		r := renderValues(t, map[string]interface{}{"nats": map[string]interface{}{"podTemplate": map[string]interface{}{"configChecksumAnnotation": true}}})
		assert.Contains(t, podAnnotations(r), "checksum/config")
		assert.Equal(t, []string{"nats", "reloader"}, containerNames(r))
	})
}

func TestNATSMergeAndScheduling(t *testing.T) {
	r := renderValues(t, map[string]interface{}{"nats": map[string]interface{}{
		"podTemplate": map[string]interface{}{
			"merge": map[string]interface{}{"spec": map[string]interface{}{
				"nodeSelector": map[string]interface{}{"type": "kwok"},
				"tolerations": []interface{}{
					map[string]interface{}{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
				},
			}},
			"topologySpreadConstraints": map[string]interface{}{
				"kubernetes.io/hostname": map[string]interface{}{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"},
			},
		},
		"container": map[string]interface{}{
			"env":   map[string]interface{}{"GOMEMLIMIT": "400MiB"},
			"merge": map[string]interface{}{"resources": map[string]interface{}{"limits": map[string]interface{}{"memory": "2Gi"}}},
		},
		"statefulSet": map[string]interface{}{"merge": map[string]interface{}{"metadata": map[string]interface{}{"annotations": map[string]interface{}{"team": "mq"}}}},
	}})
	sts := r.must(t, "StatefulSet", "ironflow-nats")
	assert.Equal(t, map[string]string{"team": "mq"}, sts.GetAnnotations())
	assert.Equal(t, map[string]string{"type": "kwok"}, nestedStringMap(t, sts, "spec", "template", "spec", "nodeSelector"))
	tol, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "tolerations")
	assert.Len(t, tol, 1)
	tsc, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "topologySpreadConstraints")
	require.Len(t, tsc, 1)
	c0 := tsc[0].(map[string]interface{})
	assert.Equal(t, "kubernetes.io/hostname", c0["topologyKey"])
	assert.Equal(t, nestedStringMap(t, sts, "spec", "selector", "matchLabels"), func() map[string]string {
		m, _, _ := unstructured.NestedStringMap(c0, "labelSelector", "matchLabels")
		return m
	}())
	c := firstContainer(t, sts)
	assert.Equal(t, "400MiB", containerEnv(t, sts)["GOMEMLIMIT"])
	assert.Equal(t, "2Gi", mustNested(t, c, "resources", "limits", "memory"), "merged over the chart's resources")
	assert.Equal(t, "500m", mustNested(t, c, "resources", "limits", "cpu"), "maps merge key by key")
	// The app's scheduling values do not reach NATS, nor NATS's the app.
	assert.False(t, hasField(r.must(t, "Deployment", "ironflow"), "spec", "template", "spec", "nodeSelector"))
}

// TestResourceQuotaNeedsLimits: with the release quota's limits.* keys every
// pod in the namespace must declare limits, or it is rejected. Every
// container this chart renders (app, NATS, reloader, nats-box) does.
func TestResourceQuotaNeedsLimits(t *testing.T) {
	vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-multi-tenant.yaml"))
	require.NoError(t, err)
	withReloader := chartutil.CoalesceTables(map[string]interface{}{"nats": map[string]interface{}{"reloader": map[string]interface{}{"enabled": true}}}, vals.AsMap())
	r := renderValues(t, withReloader)
	r.must(t, "ResourceQuota", "ironflow-quota")
	checked := 0
	for _, o := range append(r.ofKind("Deployment"), r.ofKind("StatefulSet")...) {
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			cm := c.(map[string]interface{})
			for _, res := range []string{"cpu", "memory"} {
				_, found, _ := unstructured.NestedFieldNoCopy(cm, "resources", "limits", res)
				assert.True(t, found, "%s/%s container %s has no limits.%s", o.GetKind(), o.GetName(), cm["name"], res)
			}
			checked++
		}
	}
	assert.Equal(t, 4, checked, "ironflow, nats-box, nats, reloader")
}

func TestNATSUnsupportedOptionsFail(t *testing.T) {
	for name, vals := range map[string]map[string]interface{}{
		"leafnodes": {"config": map[string]interface{}{"leafnodes": map[string]interface{}{"enabled": true}}},
		"tls":       {"config": map[string]interface{}{"nats": map[string]interface{}{"tls": map[string]interface{}{"enabled": true}}}},
		"patch":     {"container": map[string]interface{}{"patch": []interface{}{map[string]interface{}{"op": "remove", "path": "/resources"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			chrt, err := loader.Load(chartDir)
			require.NoError(t, err)
			over := map[string]interface{}{"nats": vals}
			require.NoError(t, chartutil.ProcessDependenciesWithMerge(chrt, over))
			_, err = renderChart(chrt, releaseName, over)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "test fixture")
		})
	}
}

// The app's credentials: rendered into <release>-auth and read from there,
// the way real charts carry a password; nothing when none is set, and
// nothing rendered for a Secret the user manages.
func TestAuthSecret(t *testing.T) {
	none := render(t, "")
	assert.Nil(t, none.get("Secret", releaseName+"-auth"))
	assert.NotContains(t, containerEnv(t, none.must(t, "Deployment", releaseName)), "JWT_SECRET")

	r := renderValues(t, map[string]interface{}{"auth": map[string]interface{}{"jwtSecret": "s3cr3t-jwt", "adminPassword": "hunter2"}})
	sec := r.must(t, "Secret", releaseName+"-auth")
	assert.Equal(t, map[string]string{"jwt-secret": "s3cr3t-jwt", "admin-password": "hunter2"}, nestedStringMap(t, sec, "stringData"))
	env := containerEnv(t, r.must(t, "Deployment", releaseName))
	assert.Equal(t, "<valueFrom>", env["JWT_SECRET"])
	assert.Equal(t, "<valueFrom>", env["ADMIN_PASSWORD"])

	own := renderValues(t, map[string]interface{}{"auth": map[string]interface{}{"jwtSecret": "x", "existingSecret": "mine"}})
	assert.Nil(t, own.get("Secret", releaseName+"-auth"), "the user's Secret is not rendered over")
	assert.Contains(t, containerEnv(t, own.must(t, "Deployment", releaseName)), "JWT_SECRET")
}

// TestScaleOutPrerequisiteValues: the values scale's scale-out guards read
// (the Fluxbase guide's horizontal-scaling prerequisites). The defaults are
// ready for more than one replica: S3 storage, no PersistentVolumeClaim, no
// embedded database, no realtime, no session affinity.
func TestScaleOutPrerequisiteValues(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		r := render(t, "")
		dep := r.must(t, "Deployment", releaseName)
		env := containerEnv(t, dep)
		assert.Equal(t, "s3", env["FLUXBASE_STORAGE_PROVIDER"])
		assert.Equal(t, "ironflow", env["FLUXBASE_STORAGE_S3_BUCKET"])
		assert.Equal(t, "false", env["FLUXBASE_REALTIME_ENABLED"])
		assert.NotContains(t, env, "FLUXBASE_STORAGE_LOCAL_PATH")
		assert.NotContains(t, env, "DATABASE_URL")
		assert.NotContains(t, env, "FLUXBASE_DATABASE_EMBEDDED")
		assert.Empty(t, r.ofKind("PersistentVolumeClaim"))
		assert.False(t, hasField(dep, "spec", "template", "spec", "volumes"))
		assert.False(t, hasField(r.must(t, "Service", releaseName), "spec", "sessionAffinity"))
	})

	t.Run("values-local-storage.yaml", func(t *testing.T) {
		r := render(t, "values-local-storage.yaml")
		dep := r.must(t, "Deployment", releaseName)
		env := containerEnv(t, dep)
		assert.Equal(t, "local", env["FLUXBASE_STORAGE_PROVIDER"])
		assert.Equal(t, "/var/lib/fluxbase/storage", env["FLUXBASE_STORAGE_LOCAL_PATH"])
		assert.Equal(t, "true", env["FLUXBASE_DATABASE_EMBEDDED"])
		assert.NotContains(t, env, "FLUXBASE_STORAGE_S3_BUCKET")
		pvc := r.must(t, "PersistentVolumeClaim", releaseName+"-storage")
		modes, _, _ := unstructured.NestedStringSlice(pvc.Object, "spec", "accessModes")
		assert.Equal(t, []string{"ReadWriteOnce"}, modes)
		assert.Equal(t, "1Gi", nestedString(t, pvc, "spec", "resources", "requests", "storage"))
		assert.False(t, hasField(pvc, "spec", "storageClassName"), "the cluster's default class")
		vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
		require.Len(t, vols, 1)
		assert.Equal(t, releaseName+"-storage", mustNested(t, vols[0].(map[string]interface{}), "persistentVolumeClaim", "claimName"))
		mounts, _, _ := unstructured.NestedSlice(firstContainer(t, dep), "volumeMounts")
		require.Len(t, mounts, 1)
		assert.Equal(t, map[string]interface{}{"name": "storage", "mountPath": "/var/lib/fluxbase/storage"}, mounts[0])
		assert.EqualValues(t, 1, nestedInt(t, dep, "spec", "replicas"))
	})

	t.Run("s3, external database, realtime and sticky sessions", func(t *testing.T) {
		r := renderValues(t, map[string]interface{}{
			"storage":  map[string]interface{}{"provider": "s3", "s3": map[string]interface{}{"bucket": "uploads", "endpoint": "http://minio:9000", "region": "eu-west-1"}},
			"database": map[string]interface{}{"url": "postgres://ironflow@db:5432/ironflow"},
			"realtime": map[string]interface{}{"enabled": true},
			"service":  map[string]interface{}{"sessionAffinity": "ClientIP", "sessionAffinityTimeoutSeconds": 3600},
		})
		env := containerEnv(t, r.must(t, "Deployment", releaseName))
		assert.Equal(t, "uploads", env["FLUXBASE_STORAGE_S3_BUCKET"])
		assert.Equal(t, "http://minio:9000", env["FLUXBASE_STORAGE_S3_ENDPOINT"])
		assert.Equal(t, "eu-west-1", env["FLUXBASE_STORAGE_S3_REGION"])
		assert.Equal(t, "postgres://ironflow@db:5432/ironflow", env["DATABASE_URL"])
		assert.Equal(t, "true", env["FLUXBASE_REALTIME_ENABLED"])
		svc := r.must(t, "Service", releaseName)
		assert.Equal(t, "ClientIP", nestedString(t, svc, "spec", "sessionAffinity"))
		assert.EqualValues(t, 3600, nestedInt(t, svc, "spec", "sessionAffinityConfig", "clientIP", "timeoutSeconds"))
	})

	t.Run("ClientIP without timeout keeps the default", func(t *testing.T) {
		r := renderValues(t, map[string]interface{}{"service": map[string]interface{}{"sessionAffinity": "ClientIP"}})
		svc := r.must(t, "Service", releaseName)
		assert.Equal(t, "ClientIP", nestedString(t, svc, "spec", "sessionAffinity"))
		assert.False(t, hasField(svc, "spec", "sessionAffinityConfig"))
	})

	t.Run("a ReadWriteMany local volume", func(t *testing.T) {
		r := renderValues(t, map[string]interface{}{"storage": map[string]interface{}{"provider": "local", "local": map[string]interface{}{"accessMode": "ReadWriteMany", "storageClassName": "nfs"}}})
		pvc := r.must(t, "PersistentVolumeClaim", releaseName+"-storage")
		modes, _, _ := unstructured.NestedStringSlice(pvc.Object, "spec", "accessModes")
		assert.Equal(t, []string{"ReadWriteMany"}, modes)
		assert.Equal(t, "nfs", nestedString(t, pvc, "spec", "storageClassName"))
	})
}
