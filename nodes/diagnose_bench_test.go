package nodes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
)

// BenchmarkDiagnose2000Pods200Nodes: 200 nodes (20 of them the cpx32 pool
// every DaemonSet runs on), 2,000 pods (200 DaemonSet pods, 1,700 app pods,
// 100 pending), 10 DaemonSets, the metrics API served. The requests per op
// stay 6 whatever the size; the time is mostly the fake clientset's deep
// copies of the lists.
func BenchmarkDiagnose2000Pods200Nodes(b *testing.B) {
	const msg = "0/200 nodes are available: 20 Insufficient cpu, 180 node(s) didn't match Pod's node affinity/selector. preemption: 0/200 nodes are available: 20 No preemption victims found for incoming pod, 180 Preemption is not helpful for scheduling."
	var objs []kruntime.Object
	nodeUsage, podUsage := map[string][2]string{}, map[string][2]string{}
	var daemonSets []string
	for d := range 10 {
		name := fmt.Sprintf("ds-%d", d)
		daemonSets = append(daemonSets, name)
		objs = append(objs, diagDaemonSet(name, map[string]string{diagPoolLabel: "workers"}, true, diagContainer("20m", "32Mi")))
	}
	app := 0
	for n := range 200 {
		node := fmt.Sprintf("node-%03d", n)
		labels := map[string]string{corev1.LabelInstanceTypeStable: "cpx42"}
		if n < 20 {
			labels = map[string]string{corev1.LabelInstanceTypeStable: "cpx32", diagPoolLabel: "workers"}
			for _, ds := range daemonSets {
				p := diagBound("kube-system", ds+"-"+node, node, diagContainer("20m", "32Mi"))
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds, UID: types.UID("uid-ds-" + ds), Controller: ptr.To(true)}}
				objs = append(objs, p)
			}
		}
		objs = append(objs, diagNode(node, "4", "8Gi", labels))
		nodeUsage[node] = [2]string{"1", "2Gi"}
		for range 1700 / 200 {
			name := fmt.Sprintf("app-%04d", app)
			app++
			objs = append(objs, diagBound(diagNS, name, node, diagContainer("400m", "512Mi")))
			podUsage[diagNS+"/"+name] = [2]string{"100m", "200Mi"}
		}
	}
	for i := range 100 {
		p := diagTolerating(diagPending(diagNS, fmt.Sprintf("pending-%03d", i), msg, diagContainer("1500m", "1Gi")))
		objs = append(objs, p)
	}
	f := newDiagFixture(b, objs...)
	f.serveMetrics(b, nodeUsage, podUsage)
	ctx := context.Background()
	req := nodes.Diagnose{ServerType: "cpx32", NodeSelector: diagPoolLabel + "=workers"}

	f.reset()
	b.ReportAllocs()
	b.ResetTimer()
	requests, ops := 0, 0
	var d *nodes.Diagnosis
	for b.Loop() {
		var err error
		if d, err = f.c.Diagnose(ctx, req); err != nil {
			b.Fatal(err)
		}
		requests += f.requests()
		ops++
		f.reset()
	}
	b.StopTimer()
	b.ReportMetric(float64(requests)/float64(ops), "requests/op")
	if len(d.Pending) != 100 || len(d.Nodes) != 200 || !d.MetricsServed || d.Recommendation.AddNodes != 50 {
		b.Fatalf("pending %d, nodes %d, metrics %t, add %d", len(d.Pending), len(d.Nodes), d.MetricsServed, d.Recommendation.AddNodes)
	}
}

// BenchmarkDiagnose2000Pods200NodesRealAPIServer: the same shape on the
// real API server: 200 nodes no kubelet manages, 1,900 pods bound to
// them, 100 pending pods the scheduler leaves alone (another
// schedulerName) whose PodScheduled condition is set by hand, 10
// DaemonSets whose selector matches no node (so no controller adds pods).
// The time is the API server's: three lists and the probe over loopback.
func BenchmarkDiagnose2000Pods200NodesRealAPIServer(b *testing.B) {
	env := testenv.Shared()
	if env == nil {
		b.Fatal("no test environment")
	}
	ctx := context.Background()
	ns := env.Namespace(b)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	pool := "diag-bench-" + hex.EncodeToString(suffix)
	const msg = "0/200 nodes are available: 20 Insufficient cpu, 180 node(s) didn't match Pod's node affinity/selector. preemption: 0/200 nodes are available: 20 No preemption victims found for incoming pod, 180 Preemption is not helpful for scheduling."

	var nodeNames []string
	b.Cleanup(func() {
		grace := metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)} // no kubelet confirms a graceful delete
		_ = env.Client.CoreV1().Pods(ns).DeleteCollection(context.Background(), grace, metav1.ListOptions{})
		for _, n := range nodeNames {
			_ = env.Client.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	var objs []func() error
	for n := range 200 {
		name := fmt.Sprintf("%s-%03d", pool, n)
		nodeNames = append(nodeNames, name)
		node := diagNode(name, "4", "8Gi", map[string]string{corev1.LabelInstanceTypeStable: "cpx42"})
		if n < 20 {
			node.Labels[corev1.LabelInstanceTypeStable] = "cpx32"
			node.Labels[diagPoolLabel] = pool
		}
		objs = append(objs, func() error {
			_, err := env.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
			return err
		})
	}
	diagParallel(b, objs)
	objs = nil
	for i := range 1900 {
		p := diagBound(ns, fmt.Sprintf("app-%04d", i), nodeNames[i%200], diagContainer("400m", "512Mi"))
		objs = append(objs, func() error {
			_, err := env.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		})
	}
	for i := range 100 {
		p := diagTolerating(diagPending(ns, fmt.Sprintf("pending-%03d", i), "", diagContainer("1500m", "1Gi")))
		p.Spec.NodeSelector[diagPoolLabel] = pool
		p.Spec.SchedulerName = "diag-no-scheduler"
		objs = append(objs, func() error {
			created, err := env.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}}
			_, err = env.Client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
			return err
		})
	}
	for d := range 10 {
		ds := diagDaemonSet(fmt.Sprintf("ds-%d", d), map[string]string{"diag-bench": "none"}, true, diagContainer("20m", "32Mi"))
		ds.Namespace = ns
		ds.UID = ""
		ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"ds": ds.Name}}
		ds.Spec.Template.Labels = map[string]string{"ds": ds.Name}
		objs = append(objs, func() error {
			_, err := env.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{})
			return err
		})
	}
	diagParallel(b, objs)

	// Each sample is what a one-shot CLI pays: a fresh client (discovery
	// included), then the anchor the runbook uses for the same question,
	// `kubectl describe nodes` and the pending pods, alternating.
	req := nodes.Diagnose{Namespace: ns, ServerType: "cpx32", NodeSelector: diagPoolLabel + "=" + pool}
	kubectl := func(args ...string) {
		if _, err := env.Kubectl(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	var sdk, anchor []time.Duration
	requests := 0
	var d *nodes.Diagnosis
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		rec := &reqcount.Recorder{}
		cfg := env.RESTConfig()
		cfg.Wrap(rec.Wrap)
		sc, err := scaling.NewCluster(cfg)
		if err != nil {
			b.Fatal(err)
		}
		client, err := nodes.New(sc, nodes.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if d, err = client.Diagnose(ctx, req); err != nil {
			b.Fatal(err)
		}
		sdk = append(sdk, time.Since(t0))
		requests += rec.Total()
		b.StopTimer()
		t0 = time.Now()
		kubectl("describe", "nodes")
		kubectl("get", "pods", "-n", ns, "--field-selector=status.phase=Pending", "-o", "wide")
		anchor = append(anchor, time.Since(t0))
		b.StartTimer()
	}
	b.StopTimer()
	med := testenv.Median
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(med(sdk).Microseconds())/1000, "sdk-median-ms")
	b.ReportMetric(float64(med(anchor).Microseconds())/1000, "kubectl-median-ms")
	b.ReportMetric(float64(med(sdk))/float64(med(anchor)), "ratio")
	if len(d.Pending) != 100 || d.Recommendation.AddNodes != 50 {
		b.Fatalf("pending %d, add %d", len(d.Pending), d.Recommendation.AddNodes)
	}
}

// diagParallel runs the creations 16 at a time.
func diagParallel(b *testing.B, fns []func() error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(fns))
	sem := make(chan struct{}, 16)
	for _, fn := range fns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
