package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/postgres"
)

var (
	clustersGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	poolersGVR  = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}
)

// instances answers each instance's status from a map, as the instance
// managers would.
type instances struct {
	mu sync.Mutex
	by map[string]*postgres.InstanceStatus
}

func (f *instances) Status(_ context.Context, pod *corev1.Pod) (*postgres.InstanceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.by[pod.Name]
	if !ok {
		return nil, fmt.Errorf("instance %s does not answer", pod.Name)
	}
	out := *s
	return &out, nil
}

// cnpgEnv is a CloudNativePG cluster "pg" of three instances in namespace
// db on fakes: the Cluster and a Pooler in the dynamic client, the pods
// and the -rw EndpointSlice in the clientset, and the instance managers'
// answers. promote plays the operator.
type cnpgEnv struct {
	kube   *k8sfake.Clientset
	dyn    *dynamicfake.FakeDynamicClient
	status *instances
	client *postgres.Client
}

func newCNPGEnv(t *testing.T, instancesN int64) *cnpgEnv {
	t.Helper()
	cluster := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg", "namespace": "db", "generation": int64(1)},
		"spec":     map[string]any{"instances": instancesN},
		"status":   map[string]any{"currentPrimary": "pg-1", "targetPrimary": "pg-1", "phase": "Cluster in healthy state", "instances": instancesN},
	}}
	pooler := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Pooler",
		"metadata": map[string]any{"name": "pg-pooler-rw", "namespace": "db"},
		"spec":     map[string]any{"cluster": map[string]any{"name": "pg"}, "type": "rw"},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{clustersGVR: "ClusterList", poolersGVR: "PoolerList"}, cluster, pooler)
	kube := k8sfake.NewClientset()
	e := &cnpgEnv{kube: kube, dyn: dyn, status: &instances{by: map[string]*postgres.InstanceStatus{}}}
	for i := int64(1); i <= instancesN; i++ {
		name := fmt.Sprintf("pg-%d", i)
		role := "replica"
		if i == 1 {
			role = "primary"
		}
		_, err := kube.CoreV1().Pods("db").Create(context.Background(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db", Labels: map[string]string{
				postgres.LabelCluster: "pg", postgres.LabelPodRole: "instance", postgres.LabelInstanceRole: role, postgres.LabelRole: role}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	e.status.by["pg-1"] = &postgres.InstanceStatus{IsPrimary: true, CurrentLSN: 0x5000000}
	e.status.by["pg-2"] = &postgres.InstanceStatus{ReceivedLSN: 0x5000000, ReplayLSN: 0x5000000, WALReceiverActive: true}
	e.status.by["pg-3"] = &postgres.InstanceStatus{ReceivedLSN: 0x4F00000, ReplayLSN: 0x4F00000, WALReceiverActive: true}
	e.setEndpoints(t, "pg-1")
	var err error
	e.client, err = postgres.New(&scaling.Cluster{Kube: kube, Dynamic: dyn}, postgres.Options{Instances: e.status, VerifyTimeout: 10 * time.Second})
	require.NoError(t, err)
	kube.ClearActions()
	dyn.ClearActions()
	return e
}

func (e *cnpgEnv) setEndpoints(t *testing.T, pod string) {
	t.Helper()
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "pg-rw-abc", Namespace: "db", Labels: map[string]string{discoveryv1.LabelServiceName: "pg-rw"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}},
	}
	ctx := context.Background()
	if _, err := e.kube.DiscoveryV1().EndpointSlices("db").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		_, err = e.kube.DiscoveryV1().EndpointSlices("db").Create(ctx, es, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

func (e *cnpgEnv) clusterStatus(t *testing.T) map[string]any {
	t.Helper()
	u, err := e.dyn.Resource(clustersGVR).Namespace("db").Get(context.Background(), "pg", metav1.GetOptions{})
	require.NoError(t, err)
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	return st
}

func (e *cnpgEnv) setStatus(t *testing.T, fields map[string]any) {
	t.Helper()
	ctx := context.Background()
	u, err := e.dyn.Resource(clustersGVR).Namespace("db").Get(ctx, "pg", metav1.GetOptions{})
	require.NoError(t, err)
	for k, v := range fields {
		require.NoError(t, unstructured.SetNestedField(u.Object, v, "status", k))
	}
	_, err = e.dyn.Resource(clustersGVR).Namespace("db").Update(ctx, u, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// promote does what the operator does once targetPrimary names another
// instance: it relabels the pods, points the -rw Service at the new
// primary and records it as current.
func (e *cnpgEnv) promote(t *testing.T, to string) {
	t.Helper()
	ctx := context.Background()
	list, err := e.kube.CoreV1().Pods("db").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range list.Items {
		role := "replica"
		if p.Name == to {
			role = "primary"
		}
		p.Labels[postgres.LabelInstanceRole], p.Labels[postgres.LabelRole] = role, role
		_, err := e.kube.CoreV1().Pods("db").Update(ctx, &p, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	e.setEndpoints(t, to)
	e.setStatus(t, map[string]any{"currentPrimary": to, "phase": "Cluster in healthy state"})
}

func writes(dyn *dynamicfake.FakeDynamicClient, kube *k8sfake.Clientset) []string {
	out := plantest.Writes(kube)
	for _, a := range dyn.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
	}
	return out
}

func TestSwitchoverToTheMostAdvancedReplicaVerified(t *testing.T) {
	e := newCNPGEnv(t, 3)
	ctx := context.Background()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "pg"})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	require.Len(t, plan.Steps, 1)
	assert.Equal(t, postgres.ActionPromote, plan.Steps[0].Action)
	assert.Equal(t, "pg-1", plan.Steps[0].Before)
	assert.Equal(t, "pg-2", plan.Steps[0].After, "received and replayed everything")
	assert.Empty(t, writes(e.dyn, e.kube), "planning writes nothing")

	stored := plantest.Edited(t, plan, func(map[string]any) {})
	applied, err := e.client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	assert.Equal(t, []string{"patch clusters/status"}, writes(e.dyn, e.kube), "one patch of the status, as the plugin sends")
	st := e.clusterStatus(t)
	assert.Equal(t, "pg-2", st["targetPrimary"])
	assert.Equal(t, "Switchover in progress", st["phase"])
	assert.Equal(t, "Switching over to pg-2", st["phaseReason"])

	go func() {
		time.Sleep(50 * time.Millisecond)
		e.promote(t, "pg-2")
	}()
	v, err := e.client.Verify(ctx, stored)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, "%s", v)
	for _, name := range []string{"current-primary", "primary-pod", "rw-endpoints", "phase"} {
		c, ok := v.Check(name)
		assert.True(t, ok && c.Passed, "%s: %+v", name, c)
	}

	e.dyn.ClearActions()
	e.kube.ClearActions()
	again, err := e.client.Apply(ctx, stored)
	require.Error(t, err, "the primary moved: the stored plan is stale, not re-applied")
	assert.Nil(t, again)
	assert.ErrorIs(t, err, scaling.ErrStalePlan)
	assert.Empty(t, writes(e.dyn, e.kube))
}

func TestTheOperatorsRevertIsAFailedVerify(t *testing.T) {
	e := newCNPGEnv(t, 3)
	ctx := context.Background()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "pg", Target: "pg-3", MaxLagBytes: 1 << 30})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	// "Wrong target primary, the chosen one is not active or not present":
	// the operator resets the target and says nothing else.
	e.setStatus(t, map[string]any{"targetPrimary": "pg-1"})
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase)
	var reverted *postgres.RevertedError
	require.ErrorAs(t, v.Err, &reverted)
	assert.Equal(t, "pg-3", reverted.Target)
	assert.Contains(t, v.Reason, "reset cluster pg's target primary from pg-3 back to pg-1")
}

// A plan verified before it was applied does not hold, and says so at the
// deadline: the old primary's settled target is not the operator's reset.
func TestAnUnappliedSwitchoverTimesOut(t *testing.T) {
	e := newCNPGEnv(t, 3)
	plan, err := e.client.PlanSwitchover(context.Background(), postgres.Switchover{Namespace: "db", Cluster: "pg"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase, "%s", v)
	assert.Contains(t, v.Reason, "current-primary expected pg-2, observed pg-1")
}

func TestBlockedAndStaleSwitchoversWriteNothing(t *testing.T) {
	ctx := context.Background()
	single := newCNPGEnv(t, 1)
	plan, err := single.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "pg"})
	require.NoError(t, err)
	_, err = single.client.Apply(ctx, plantest.Edited(t, plan, func(map[string]any) {}))
	var one *postgres.SingleInstanceError
	require.ErrorAs(t, err, &one, "the typed cause survives storage")
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Contains(t, one.Error(), "failover is not available")
	assert.Empty(t, writes(single.dyn, single.kube))

	e := newCNPGEnv(t, 3)
	lagging, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "pg", Target: "pg-3", MaxLagBytes: 64 << 10})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, lagging)
	var lag *postgres.LagError
	require.ErrorAs(t, err, &lag, "pg-3 is 1 MiB behind; the caller allows 64 KiB")
	assert.Equal(t, int64(0x100000), lag.LagBytes)
	assert.Empty(t, writes(e.dyn, e.kube))

	plan, err = e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "pg"})
	require.NoError(t, err)
	// A failover happened between plan and apply.
	e.setStatus(t, map[string]any{"currentPrimary": "pg-3", "targetPrimary": "pg-3"})
	e.dyn.ClearActions()
	_, err = e.client.Apply(ctx, plan)
	assert.ErrorIs(t, err, scaling.ErrStalePlan)
	assert.Empty(t, writes(e.dyn, e.kube))

	edited := plantest.Edited(t, plan, func(m map[string]any) { m["spec"].(map[string]any)["to"] = "pg-3" })
	e.setStatus(t, map[string]any{"currentPrimary": "pg-1", "targetPrimary": "pg-1"})
	e.dyn.ClearActions()
	_, err = e.client.Apply(ctx, edited)
	assert.ErrorIs(t, err, scaling.ErrPlanMismatch, "an edited target is not what the steps show")
	assert.Empty(t, writes(e.dyn, e.kube))
}

func TestSwitchoverBadInputReadsNothing(t *testing.T) {
	e := newCNPGEnv(t, 3)
	ctx := context.Background()
	for _, req := range []postgres.Switchover{{Cluster: "pg"}, {Namespace: "db"}, {Namespace: "db", Cluster: "pg", MaxLagBytes: -1}} {
		_, err := e.client.PlanSwitchover(ctx, req)
		assert.ErrorIs(t, err, scaling.ErrInvalidInput, "%+v", req)
	}
	assert.Empty(t, e.dyn.Actions())
	assert.Empty(t, e.kube.Actions())
	_, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "nope"})
	assert.ErrorIs(t, err, scaling.ErrNotFound)
	_, err = postgres.New(&scaling.Cluster{Kube: e.kube}, postgres.Options{})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput, "the dynamic client is required")
}
