package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/postgres"
)

const (
	relNS, relName = "demo", "ironflow"
	pgCluster      = "ironflow-pg"
)

func chartPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "charts", "ironflow")
}

var chartSource = scaling.ChartSource{Ref: chartPath()}

// releaseEnv is a release of the reference chart with PostgreSQL on fakes:
// Helm in memory, its Deployments mirrored into the clientset and its
// CloudNativePG objects into the dynamic client (spec only, generation
// bumped, status kept, as an API server with the CRDs does); the Cluster's
// status, instance pods and claims as the operator left them.
type releaseEnv struct {
	kube     *k8sfake.Clientset
	dyn      *dynamicfake.FakeDynamicClient
	releases *fake.Releases
	status   *instances
	settings *settings
	client   *postgres.Client
}

func pgValues(instancesN int, pooler bool) map[string]any {
	return map[string]any{
		"replicaCount": 3,
		"cluster":      map[string]any{"enabled": true},
		"nats":         map[string]any{"enabled": false},
		"database":     map[string]any{"poolSize": 10},
		"postgresql": map[string]any{"enabled": true, "instances": instancesN, "maxConnections": 100,
			"persistence": map[string]any{"size": "10Gi"}, "pooler": map[string]any{"enabled": pooler}},
	}
}

func newReleaseEnv(t *testing.T, vals map[string]any, expandable bool) *releaseEnv {
	t.Helper()
	ctx := context.Background()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner: "example.com/hostpath", AllowVolumeExpansion: ptr.To(expandable)}
	e := &releaseEnv{kube: k8sfake.NewClientset(sc), status: &instances{by: map[string]*postgres.InstanceStatus{}}, settings: newSettings()}
	e.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(),
		map[schema.GroupVersionResource]string{clustersGVR: "ClusterList", poolersGVR: "PoolerList"})
	mirror := func(ctx context.Context, rel *scaling.Release, err error) (*scaling.Release, error) {
		if err != nil {
			return rel, err
		}
		return rel, e.mirrorCNPG(ctx, rel)
	}
	e.releases = fake.NewReleases(e.kube, fake.WithInterceptor(fake.Funcs{
		Install: func(ctx context.Context, next *fake.Releases, namespace, name, chart string, values map[string]any) (*scaling.Release, error) {
			rel, err := next.Install(ctx, namespace, name, chart, values)
			return mirror(ctx, rel, err)
		},
		Upgrade: func(ctx context.Context, next *fake.Releases, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
			rel, err := next.Upgrade(ctx, namespace, name, revision, source, values)
			return mirror(ctx, rel, err)
		},
	}))
	_, err := e.releases.Install(ctx, relNS, relName, chartPath(), vals)
	require.NoError(t, err)
	n := int(vals["postgresql"].(map[string]any)["instances"].(int))
	e.setStatus(t, map[string]any{"currentPrimary": pgCluster + "-1", "targetPrimary": pgCluster + "-1", "phase": "Cluster in healthy state",
		"instances": int64(n), "readyInstances": int64(n), "latestGeneratedNode": int64(n)})
	for i := 1; i <= n; i++ {
		e.addInstance(t, i, "10Gi")
	}
	e.client, err = postgres.New(&scaling.Cluster{Kube: e.kube, Dynamic: e.dyn}, postgres.Options{
		Releases: e.releases, Chart: chartSource, Instances: e.status, Settings: e.settings, VerifyTimeout: 10 * time.Second})
	require.NoError(t, err)
	e.kube.ClearActions()
	e.dyn.ClearActions()
	return e
}

// mirrorCNPG writes the release's Clusters and Poolers into the dynamic
// client.
func (e *releaseEnv) mirrorCNPG(ctx context.Context, rel *scaling.Release) error {
	objs, err := manifest.Parse(rel.Manifest, rel.Namespace)
	if err != nil {
		return err
	}
	for _, o := range objs {
		var gvr schema.GroupVersionResource
		switch o.Obj.GetKind() {
		case "Cluster":
			gvr = clustersGVR
		case "Pooler":
			gvr = poolersGVR
		default:
			continue
		}
		res := e.dyn.Resource(gvr).Namespace(rel.Namespace)
		cur, err := res.Get(ctx, o.Obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			obj := o.Obj.DeepCopy()
			obj.SetGeneration(1)
			_, err = res.Create(ctx, obj, metav1.CreateOptions{})
		case err == nil:
			cur.Object["spec"] = o.Obj.Object["spec"]
			cur.SetGeneration(cur.GetGeneration() + 1)
			_, err = res.Update(ctx, cur, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("mirroring %s: %w", o.Key, err)
		}
	}
	return nil
}

func (e *releaseEnv) cluster(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	u, err := e.dyn.Resource(clustersGVR).Namespace(relNS).Get(context.Background(), pgCluster, metav1.GetOptions{})
	require.NoError(t, err)
	return u
}

func (e *releaseEnv) setStatus(t *testing.T, fields map[string]any) {
	t.Helper()
	u := e.cluster(t)
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	if st == nil {
		st = map[string]any{}
	}
	for k, v := range fields {
		st[k] = v
	}
	u.Object["status"] = st
	_, err := e.dyn.Resource(clustersGVR).Namespace(relNS).Update(context.Background(), u, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// addInstance creates instance pod <cluster>-i (Ready; a replica
// streaming unless i is 1) and its data claim, Bound at size.
func (e *releaseEnv) addInstance(t *testing.T, i int, size string) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s-%d", pgCluster, i)
	role := "replica"
	if i == 1 {
		role = "primary"
	}
	_, err := e.kube.CoreV1().Pods(relNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: relNS, UID: k8stypes.UID("uid-" + name), Labels: map[string]string{
			postgres.LabelCluster: pgCluster, postgres.LabelPodRole: "instance", postgres.LabelInstanceRole: role, postgres.LabelRole: role}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	q := resource.MustParse(size)
	_, err = e.kube.CoreV1().PersistentVolumeClaims(relNS).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: relNS, UID: k8stypes.UID("claim-" + name), Labels: map[string]string{postgres.LabelCluster: pgCluster, postgres.LabelPVCRole: "PG_DATA"}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("standard"),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: q}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.status.mu.Lock()
	e.status.by[name] = &postgres.InstanceStatus{IsPrimary: i == 1, WALReceiverActive: i != 1}
	e.status.mu.Unlock()
}

// resizeClaims plays the operator and the resizer: every data claim grows
// to size, request and capacity.
func (e *releaseEnv) resizeClaims(t *testing.T, size string) {
	t.Helper()
	ctx := context.Background()
	list, err := e.kube.CoreV1().PersistentVolumeClaims(relNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	q := resource.MustParse(size)
	for i := range list.Items {
		p := &list.Items[i]
		p.Spec.Resources.Requests[corev1.ResourceStorage] = q
		p.Status.Capacity[corev1.ResourceStorage] = q
		_, err := e.kube.CoreV1().PersistentVolumeClaims(relNS).Update(ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
}

func (e *releaseEnv) revision(t *testing.T) int {
	t.Helper()
	rel, err := e.releases.Last(context.Background(), relNS, relName)
	require.NoError(t, err)
	return rel.Revision
}

func (e *releaseEnv) clearActions() {
	e.kube.ClearActions()
	e.dyn.ClearActions()
}

func (e *releaseEnv) writes() []string { return writes(e.dyn, e.kube) }

// settings answers pg_settings from a map, as a server would, per pod.
type settings struct {
	mu sync.Mutex
	by map[string]postgres.Setting
	// pod overrides per pod name.
	pod map[string]map[string]postgres.Setting
}

func newSettings() *settings {
	return &settings{pod: map[string]map[string]postgres.Setting{}, by: map[string]postgres.Setting{
		"max_connections":            {Name: "max_connections", Value: "100", Setting: "100", Context: "postmaster", VarType: "integer", Min: "1", Max: "262143"},
		"shared_buffers":             {Name: "shared_buffers", Value: "128MB", Setting: "16384", Unit: "8kB", Context: "postmaster", VarType: "integer", Min: "16", Max: "1073741823"},
		"work_mem":                   {Name: "work_mem", Value: "4MB", Setting: "4096", Unit: "kB", Context: "user", VarType: "integer", Min: "64", Max: "2147483647"},
		"log_min_duration_statement": {Name: "log_min_duration_statement", Value: "-1", Setting: "-1", Unit: "ms", Context: "superuser", VarType: "integer", Min: "-1", Max: "2147483647"},
		"wal_level":                  {Name: "wal_level", Value: "replica", Setting: "replica", Context: "postmaster", VarType: "enum", EnumVals: []string{"minimal", "replica", "logical"}},
		"port":                       {Name: "port", Value: "5432", Setting: "5432", Context: "postmaster", VarType: "integer", Min: "1", Max: "65535"},
	}}
}

func (s *settings) Settings(_ context.Context, pod *corev1.Pod, names ...string) (map[string]postgres.Setting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]postgres.Setting{}
	for _, n := range names {
		if v, ok := s.pod[pod.Name][n]; ok {
			out[n] = v
		} else if v, ok := s.by[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

// apply plays the servers reloading: each setting takes the value (raw
// setting given in the setting's unit).
func (s *settings) apply(name, value, raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.by[name]
	v.Value, v.Setting = value, raw
	s.by[name] = v
}
