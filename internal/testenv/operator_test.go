package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// operatorFixture starts the double on a new namespace with a Cluster of n
// instances and waits until it is healthy.
func operatorFixture(t *testing.T, n int, opts OperatorOptions) (*Operator, dynamic.Interface, string) {
	t.Helper()
	env := Shared()
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts.Namespace = ns
	op, err := env.StartOperator(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		op.Stop()
		assert.Empty(t, op.Errors(), "the operator double's reconciles failed")
	})
	dyn, err := dynamic.NewForConfig(env.RESTConfig())
	require.NoError(t, err)
	cl := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": map[string]any{"name": "pg"},
		"spec": map[string]any{"instances": int64(n), "storage": map[string]any{"size": "1Gi"}},
	}}
	_, err = dyn.Resource(ClustersGVR).Namespace(ns).Create(ctx, cl, metav1.CreateOptions{})
	require.NoError(t, err)
	waitCluster(t, ctx, dyn, ns, func(st map[string]any) bool {
		return st["phase"] == PhaseHealthy && st["readyInstances"] == int64(n) && st["currentPrimary"] == "pg-1"
	})
	return op, dyn, ns
}

func waitCluster(t *testing.T, ctx context.Context, dyn dynamic.Interface, ns string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var last map[string]any
	err := waitFor(ctx, nil, "cluster pg", func() bool {
		u, err := dyn.Resource(ClustersGVR).Namespace(ns).Get(ctx, "pg", metav1.GetOptions{})
		if err != nil {
			return false
		}
		last, _, _ = unstructured.NestedMap(u.Object, "status")
		return ok(last)
	})
	require.NoError(t, err, "last status: %v", last)
	return last
}

func rwEndpoints(ctx context.Context, kube kubernetes.Interface, ns string) []string {
	list, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=pg-rw"})
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				out = append(out, e.TargetRef.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestTheOperatorDoubleRunsAClusterAndSwitchesOver(t *testing.T) {
	mem := NewMemoryBackend()
	op, dyn, ns := operatorFixture(t, 3, OperatorOptions{Backend: mem})
	env := Shared()
	ctx := ctxT(t)

	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "cnpg.io/cluster=pg,cnpg.io/podRole=instance"})
	require.NoError(t, err)
	roles := map[string]string{}
	for _, p := range pods.Items {
		roles[p.Name] = p.Labels["cnpg.io/instanceRole"] + "/" + p.Labels["role"]
	}
	assert.Equal(t, map[string]string{"pg-1": "primary/primary", "pg-2": "replica/replica", "pg-3": "replica/replica"}, roles)
	for _, svc := range []string{"pg-rw", "pg-ro", "pg-r"} {
		_, err := env.Client.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
		assert.NoError(t, err, svc)
	}
	require.NoError(t, waitFor(ctx, nil, "pg-rw -> pg-1", func() bool { return slices.Equal(rwEndpoints(ctx, env.Client, ns), []string{"pg-1"}) }))
	claims, err := env.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, claims.Items, 3)

	// The pod proxy answers from the backend, for a caller RBAC allows.
	kube, err := kubernetes.NewForConfig(op.WrapConfig(env.RESTConfig()))
	require.NoError(t, err)
	mem.Lag(ns, "pg-3", true)
	mem.Write(ns, "pg-1", 4096)
	raw, err := kube.CoreV1().Pods(ns).ProxyGet("http", "pg-3", "8000", "/pg/status", nil).DoRaw(ctx)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, false, doc["isPrimary"])
	assert.Equal(t, true, doc["replayPaused"])
	assert.NotEqual(t, doc["receivedLsn"], doc["replayLsn"], "a paused replica replays behind what it received")
	cfg := op.WrapConfig(env.RESTConfig())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	nobody, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = nobody.CoreV1().Pods(ns).ProxyGet("http", "pg-3", "8000", "/pg/status", nil).DoRaw(ctx)
	assert.True(t, apierrors.IsForbidden(err), "%v", err)

	// A switchover as the plugin requests it.
	promote := func(target string) {
		patch := fmt.Sprintf(`{"status":{"targetPrimary":%q,"phase":"Switchover in progress"}}`, target)
		_, err := dyn.Resource(ClustersGVR).Namespace(ns).Patch(ctx, "pg", types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
		require.NoError(t, err)
	}
	promote("pg-2")
	waitCluster(t, ctx, dyn, ns, func(st map[string]any) bool { return st["currentPrimary"] == "pg-2" && st["phase"] == PhaseHealthy })
	require.NoError(t, waitFor(ctx, nil, "pg-rw -> pg-2", func() bool { return slices.Equal(rwEndpoints(ctx, env.Client, ns), []string{"pg-2"}) }))
	assert.Equal(t, 1, mem.Switchovers)

	// A target that is not an instance is reset, the phase left as it is.
	promote("pg-9")
	st := waitCluster(t, ctx, dyn, ns, func(st map[string]any) bool { return st["targetPrimary"] == "pg-2" })
	assert.Equal(t, "pg-2", st["currentPrimary"])
	assert.Equal(t, "Switchover in progress", st["phase"])
	assert.Equal(t, 1, mem.Switchovers)
}

func TestTheOperatorDoubleScalesResizesAndPools(t *testing.T) {
	mem := NewMemoryBackend()
	_, dyn, ns := operatorFixture(t, 1, OperatorOptions{Backend: mem})
	env := Shared()
	ctx := ctxT(t)
	patch := `{"spec":{"instances":2,"storage":{"size":"2Gi"},"postgresql":{"parameters":{"max_connections":"200"}}}}`
	_, err := dyn.Resource(ClustersGVR).Namespace(ns).Patch(ctx, "pg", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
	waitCluster(t, ctx, dyn, ns, func(st map[string]any) bool { return st["readyInstances"] == int64(2) && st["phase"] == PhaseHealthy })
	require.NoError(t, waitFor(ctx, nil, "claims at 2Gi", func() bool {
		for _, c := range []string{"pg-1", "pg-2"} {
			pvc, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, c, metav1.GetOptions{})
			if err != nil || pvc.Status.Capacity.Storage().String() != "2Gi" {
				return false
			}
		}
		return true
	}))
	assert.Equal(t, "200", mem.Parameters(ns, "pg-1")["max_connections"])

	pooler := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Pooler", "metadata": map[string]any{"name": "pg-pooler-rw"},
		"spec": map[string]any{"cluster": map[string]any{"name": "pg"}, "instances": int64(2), "type": "rw", "pgbouncer": map[string]any{"poolMode": "transaction", "paused": true}},
	}}
	_, err = dyn.Resource(PoolersGVR).Namespace(ns).Create(ctx, pooler, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, nil, "pooler deployment ready", func() bool {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "pg-pooler-rw", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2
	}))
	_, err = env.Client.CoreV1().Services(ns).Get(ctx, "pg-pooler-rw", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, nil, "pooler paused in the backend", func() bool {
		p, ok := mem.PoolerState(ns, "pg-pooler-rw")
		return ok && p.Paused && p.Primary == "pg-1"
	}))

	// Scale-down removes the highest replica, never the primary.
	_, err = dyn.Resource(ClustersGVR).Namespace(ns).Patch(ctx, "pg", types.MergePatchType, []byte(`{"spec":{"instances":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	waitCluster(t, ctx, dyn, ns, func(st map[string]any) bool { return st["instances"] == int64(1) && st["phase"] == PhaseHealthy })
	_, err = env.Client.CoreV1().Pods(ns).Get(ctx, "pg-1", metav1.GetOptions{})
	assert.NoError(t, err)
	_, err = env.Client.CoreV1().Pods(ns).Get(ctx, "pg-2", metav1.GetOptions{})
	if err == nil {
		p, _ := env.Client.CoreV1().Pods(ns).Get(ctx, "pg-2", metav1.GetOptions{})
		assert.NotNil(t, p.DeletionTimestamp, "pg-2 is going")
	} else {
		assert.True(t, apierrors.IsNotFound(err), "%v", err)
	}
}
