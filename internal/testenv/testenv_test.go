package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) {
	if os.Getenv("TESTENV_BROKEN_START") == "1" {
		// TestRunFailsLoudly's child: an environment that cannot start.
		os.Exit(Run(m, Options{Nodes: []NodeSpec{{Name: "bad", CPU: "lots"}}}))
	}
	os.Exit(Run(m, Options{CNPG: true}))
}

// Run fails the package, exit code 1 with the reason on stderr, when the
// environment does not start: it never skips.
func TestRunFailsLoudly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTENV_BROKEN_START=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stderr.String(), "testenv: the real test environment did not start")
	assert.Contains(t, stderr.String(), `cpu "lots"`)
	assert.Contains(t, stderr.String(), "last lines of")
	assert.NotContains(t, stdout.String(), "PASS")
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestNodesReady(t *testing.T) {
	env := Shared()
	require.NotNil(t, env)
	t.Logf("start: %s", env.Timings)
	ctx := ctxT(t)
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 3)
	for i, n := range nodes.Items {
		assert.Equal(t, "kwok-node-"+strconv.Itoa(i), n.Name)
		assert.True(t, ready(n.Status.Conditions), "%s Ready", n.Name)
		assert.Empty(t, n.Spec.Taints, n.Name)
		assert.Equal(t, "kwok", n.Labels["type"])
		assert.Equal(t, "8", n.Status.Allocatable.Cpu().String(), n.Name)
		assert.Equal(t, "32Gi", n.Status.Allocatable.Memory().String(), n.Name)
		assert.Equal(t, int64(110), n.Status.Allocatable.Pods().Value(), n.Name)
		// The lease is the heartbeat that keeps KCM from marking the node
		// Unknown every grace period.
		_, err := env.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.Name, metav1.GetOptions{})
		assert.NoError(t, err, "lease of %s", n.Name)
	}
	sc, err := env.Client.StorageV1().StorageClasses().Get(ctx, ExpandableClass, metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, *sc.AllowVolumeExpansion)
	assert.Equal(t, "true", sc.Annotations["storageclass.kubernetes.io/is-default-class"])
	sc, err = env.Client.StorageV1().StorageClasses().Get(ctx, FixedClass, metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, *sc.AllowVolumeExpansion)
}

func ready(conds []corev1.NodeCondition) bool {
	for _, c := range conds {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestNamespaceHasDefaultServiceAccount(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	assert.True(t, strings.HasPrefix(ns, "testnamespacehasdefaultserviceaccount-"), ns)
	_, err := env.Client.CoreV1().ServiceAccounts(ns).Get(ctxT(t), "default", metav1.GetOptions{})
	require.NoError(t, err)
}

func TestNamespacePrefix(t *testing.T) {
	assert.Equal(t, "testfoo-case-1-", namespacePrefix("TestFoo/case_1"))
	assert.Equal(t, "t-", namespacePrefix("___"))
	long := namespacePrefix(strings.Repeat("a", 80))
	assert.Len(t, long, 51)
}

// waitPods waits until exactly want pods match selector, all Ready.
func waitPods(t *testing.T, ns, selector string, want int) {
	t.Helper()
	env := Shared()
	ctx := ctxT(t)
	var last string
	err := waitFor(ctx, nil, "ready pods", func() bool {
		pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false
		}
		n := 0
		var states []string
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					n++
				}
			}
			states = append(states, p.Name+"="+string(p.Status.Phase))
		}
		last = strings.Join(states, " ")
		return n == want && len(pods.Items) == want
	})
	require.NoError(t, err, "want %d Ready pods, have %s\n%s", want, last, env.LogTail("kwok", 10))
}

func podTemplate(app string, cpu string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

func TestDeploymentScalesOnKWOKNodes(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web", "100m")},
	}
	_, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	waitPods(t, ns, "app=web", 1)
	start := time.Now()
	_, err = env.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}, "scale")
	require.NoError(t, err)
	waitPods(t, ns, "app=web", 4)
	t.Logf("1 -> 4 Ready in %s", time.Since(start).Round(time.Millisecond))
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.True(t, strings.HasPrefix(p.Spec.NodeName, "kwok-node-"), "%s scheduled on %q", p.Name, p.Spec.NodeName)
		assert.True(t, strings.HasPrefix(p.Status.PodIP, "10.244."), "%s pod IP %q outside the service range", p.Name, p.Status.PodIP)
	}
}

// A pod asking for more than any node has stays Pending, Unschedulable:
// the signal a pending-pod diagnosis reads.
func TestOversizedPodIsUnschedulable(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Spec: podTemplate("huge", "64").Spec}
	_, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var msg string
	err = waitFor(ctx, nil, "PodScheduled=False", func() bool {
		p, err := env.Client.CoreV1().Pods(ns).Get(ctx, "huge", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				msg = c.Message
				return true
			}
		}
		return false
	})
	require.NoError(t, err)
	assert.Contains(t, msg, "Insufficient cpu")
}

func TestStatefulSetClaimsAreBound(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name  string
		class *string
		want  string
	}{{"data", nil, ExpandableClass}, {"fixed", ptr.To(FixedClass), FixedClass}} {
		two := int32(2)
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name},
			Spec: appsv1.StatefulSetSpec{
				Replicas: &two, ServiceName: tc.name, PodManagementPolicy: appsv1.ParallelPodManagement,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": tc.name}},
				Template: podTemplate(tc.name, "100m"),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "vol"},
					Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						StorageClassName: tc.class,
						Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
				}},
			},
		}
		_, err := env.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{})
		require.NoError(t, err)
		waitPods(t, ns, "app="+tc.name, 2)
		for i := range 2 {
			name := "vol-" + tc.name + "-" + strconv.Itoa(i)
			c, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, corev1.ClaimBound, c.Status.Phase, name)
			assert.Equal(t, tc.want, *c.Spec.StorageClassName, "%s: the default class comes from admission", name)
			assert.Equal(t, "1Gi", c.Status.Capacity.Storage().String(), name)
		}
	}

	// Deleting a claim deletes its volume, as a dynamic provisioner would.
	c, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "vol-data-0", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, env.Client.AppsV1().StatefulSets(ns).Delete(ctx, "data", metav1.DeleteOptions{}))
	require.NoError(t, env.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, c.Name, metav1.DeleteOptions{}))
	err = waitFor(ctx, nil, "PV "+c.Spec.VolumeName+" deleted", func() bool {
		_, err := env.Client.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	require.NoError(t, err)
}

func TestCNPGClusterCanBeCreated(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	dyn, err := dynamic.NewForConfig(env.RESTConfig())
	require.NoError(t, err)
	gvr := schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg"},
		"spec":     map[string]any{"instances": int64(3), "storage": map[string]any{"size": "1Gi"}},
	}}
	_, err = dyn.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err)
	got, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, "pg", metav1.GetOptions{})
	require.NoError(t, err)
	n, _, _ := unstructured.NestedInt64(got.Object, "spec", "instances")
	assert.Equal(t, int64(3), n)

	pooler := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Pooler",
		"metadata": map[string]any{"name": "pg-rw"},
		"spec":     map[string]any{"cluster": map[string]any{"name": "pg"}, "instances": int64(2), "type": "rw", "pgbouncer": map[string]any{"poolMode": "session"}},
	}}
	_, err = dyn.Resource(gvr.GroupVersion().WithResource("poolers")).Namespace(ns).Create(ctx, pooler, metav1.CreateOptions{})
	require.NoError(t, err)

	// The schema is enforced: the CRD is the real one, not a permissive stub.
	bad := obj.DeepCopy()
	bad.SetName("bad")
	require.NoError(t, unstructured.SetNestedField(bad.Object, "three", "spec", "instances"))
	_, err = dyn.Resource(gvr).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{})
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
}

func TestAddNode(t *testing.T) {
	env := Shared()
	ctx := ctxT(t)
	require.NoError(t, env.AddNode(ctx, NodeSpec{Name: "extra", CPU: "2", Memory: "4Gi", Pods: 20, Labels: map[string]string{"pool": "extra"}}))
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Nodes().Delete(context.Background(), "extra", metav1.DeleteOptions{})
	})
	n, err := env.Client.CoreV1().Nodes().Get(ctx, "extra", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, ready(n.Status.Conditions))
	assert.Equal(t, "2", n.Status.Allocatable.Cpu().String())
	assert.Equal(t, "4Gi", n.Status.Capacity.Memory().String())
	assert.Equal(t, int64(20), n.Status.Allocatable.Pods().Value())
	assert.Equal(t, "extra", n.Labels["pool"])
	assert.Equal(t, "kwok", n.Labels["type"])
}

// A second environment with options of its own: the custom node and LogDir
// are used, Stop ends every process and is idempotent, and the caller's
// LogDir survives it.
func TestStartWithOptionsAndStop(t *testing.T) {
	logDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env, err := Start(ctx, Options{LogDir: logDir, Nodes: []NodeSpec{{Name: "solo", CPU: "1", Memory: "2Gi", Pods: 10}}})
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			env.Stop()
		}
	})
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1)
	assert.Equal(t, "solo", nodes.Items[0].Name)
	assert.Equal(t, "1", nodes.Items[0].Status.Allocatable.Cpu().String())
	assert.NotEqual(t, Shared().Config.Host, env.Config.Host, "a private API server")
	assert.NotEmpty(t, env.LogTail("kube-apiserver", 5))

	var pids []int
	for _, p := range env.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	require.Len(t, pids, 5)
	stopStart := time.Now()
	require.NoError(t, env.Stop())
	t.Logf("start: %s; stop: %s", env.Timings, time.Since(stopStart).Round(time.Millisecond))
	stopped = true
	require.NoError(t, env.Stop(), "Stop twice")
	for _, pid := range pids {
		assert.True(t, errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH), "process group %d gone", pid)
	}
	_, err = os.Stat(env.dir)
	assert.True(t, os.IsNotExist(err), "temporary directory removed")
	for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		_, err := os.Stat(filepath.Join(logDir, c+".log"))
		assert.NoError(t, err, "log of %s kept", c)
	}
}

// A start that fails after the components are up stops them all and says
// why.
func TestStartFailureCleansUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	before := children(t)
	env, err := Start(ctx, Options{Nodes: []NodeSpec{{Name: "bad", CPU: "lots"}}})
	require.Error(t, err)
	assert.Nil(t, env)
	assert.Contains(t, err.Error(), `cpu "lots"`)
	assert.Contains(t, err.Error(), "last lines of")
	assert.Equal(t, before, children(t), "no process left behind")

	var z Env
	assert.NoError(t, z.Stop(), "Stop of an environment that never started")
}

// children lists the PIDs whose parent is this test binary.
func children(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == me {
			out = append(out, filepath.Base(filepath.Dir(s)))
		}
	}
	return out
}

// A component that lost its port to another process makes Start try again
// with new ports; any other failure does not.
func TestPortTakenIsRetryable(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "etcd.log")
	require.NoError(t, os.WriteFile(log, []byte("listen tcp 127.0.0.1:4001: bind: address already in use\n"), 0o644))
	p := &process{name: "etcd", log: log, done: make(chan struct{})}
	close(p.done)
	var e Env
	err := e.failure(p, errors.New("etcd exited before etcd /health"))
	assert.ErrorIs(t, err, errPortTaken)
	assert.Contains(t, err.Error(), "address already in use")

	require.NoError(t, os.WriteFile(log, []byte("some other fatal error\n"), 0o644))
	assert.NotErrorIs(t, e.failure(p, errors.New("etcd exited")), errPortTaken)
}

// Claims of the expandable class grow when asked (the environment plays the
// CSI resizer and the kubelet); the API server refuses growing a claim of
// the fixed class.
func TestExpandableClaimsGrowFixedOnesAreRefused(t *testing.T) {
	env := Shared()
	ns := env.Namespace(t)
	ctx := ctxT(t)
	claim := func(name string, class string) *corev1.PersistentVolumeClaim {
		c, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: &class,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, waitFor(ctx, nil, name+" bound", func() bool {
			c, err = env.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && c.Status.Phase == corev1.ClaimBound
		}))
		return c
	}
	// A merge patch, as `kubectl patch` sends: it carries no
	// resourceVersion, so the provisioner writing the claim meanwhile (its
	// binding annotations, its status) cannot make it a 409 conflict.
	resize := func(name string) error {
		_, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, name, types.MergePatchType,
			[]byte(`{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}`), metav1.PatchOptions{})
		return err
	}
	grow := claim("grow", ExpandableClass)
	require.NoError(t, resize("grow"))
	require.NoError(t, waitFor(ctx, nil, "grow at 3Gi", func() bool {
		c, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "grow", metav1.GetOptions{})
		return err == nil && c.Status.Capacity.Storage().String() == "3Gi"
	}))
	pv, err := env.Client.CoreV1().PersistentVolumes().Get(ctx, grow.Spec.VolumeName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "3Gi", pv.Spec.Capacity.Storage().String())

	claim("fixed", FixedClass)
	err = resize("fixed")
	assert.True(t, apierrors.IsForbidden(err) || apierrors.IsInvalid(err), "the API server refuses it: %v", err)
}
