package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

func TestMain(m *testing.M) {
	os.Exit(Run(m, Options{CNPG: true}))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestNodesReady(t *testing.T) {
	env := Shared()
	nodes, err := env.Client.CoreV1().Nodes().List(ctxT(t), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 3)
	for _, n := range nodes.Items {
		assert.Equal(t, "8", n.Status.Allocatable.Cpu().String(), n.Name)
	}
	for _, tm := range env.Timings {
		t.Logf("start phase %-30s %s", tm.Phase, tm.Duration.Round(time.Millisecond))
	}
}

func waitPods(t *testing.T, ns, selector string, want int) {
	t.Helper()
	env := Shared()
	ctx := ctxT(t)
	err := waitFor(ctx, nil, "ready pods", func() bool {
		pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false
		}
		ready := 0
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == want && len(pods.Items) == want
	})
	require.NoError(t, err, env.LogTail("kwok", 10))
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
	}
}

func TestDeploymentScalesOnKWOKNodes(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web")},
	}
	_, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	waitPods(t, ns, "app=web", 1)
	_, err = env.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}, "scale")
	require.NoError(t, err)
	waitPods(t, ns, "app=web", 4)
}

func TestStatefulSetClaimsAreBound(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	two := int32(2)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "nats"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &two, ServiceName: "nats", PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nats"}},
			Template: podTemplate("nats"),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "js"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
		},
	}
	_, err := env.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{})
	require.NoError(t, err)
	waitPods(t, ns, "app=nats", 2)
	pvcs, err := env.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pvcs.Items, 2)
	for _, c := range pvcs.Items {
		assert.Equal(t, corev1.ClaimBound, c.Status.Phase, c.Name)
		assert.Equal(t, ExpandableClass, *c.Spec.StorageClassName, "the default class is set by admission")
	}
}

func TestCNPGClusterCanBeCreated(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	dyn, err := dynamic.NewForConfig(env.RESTConfig())
	require.NoError(t, err)
	gvr := schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg"},
		"spec":     map[string]any{"instances": int64(3), "storage": map[string]any{"size": "1Gi"}},
	}}
	_, err = dyn.Resource(gvr).Namespace(ns).Create(ctxT(t), obj, metav1.CreateOptions{})
	require.NoError(t, err)
	got, err := dyn.Resource(gvr).Namespace(ns).Get(ctxT(t), "pg", metav1.GetOptions{})
	require.NoError(t, err)
	n, _, _ := unstructured.NestedInt64(got.Object, "spec", "instances")
	assert.Equal(t, int64(3), n)
}
