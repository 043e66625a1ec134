package nats_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
)

// BenchmarkPlanScaleCluster plans 5 -> 3 on a real five-server cluster
// holding 2,000 streams (1,500 R1, 400 R3, 100 R5) and a real control plane.
// Besides time per plan it reports the Kubernetes requests and NATS
// messages one plan costs.
func BenchmarkPlanScaleCluster(b *testing.B) {
	e := newRealNATS(b, 5, nats.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js, err := jetstream.New(e.app)
	require.NoError(b, err)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var createErr error
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				replicas := 1
				switch {
				case i%20 == 0:
					replicas = 5
				case i%5 == 1:
					replicas = 3
				}
				name := fmt.Sprintf("S%04d", i)
				if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Replicas: replicas}); err != nil {
					mu.Lock()
					createErr = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range 2000 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	require.NoError(b, createErr)

	req := nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3, LowerStreamReplicas: true, Evacuate: true}
	plan, err := e.client.PlanScaleCluster(ctx, req) // warm: the chart is parsed once per process
	require.NoError(b, err)
	e.rec.Reset()
	before := e.sys.Stats()
	b.ResetTimer()
	for b.Loop() {
		plan, err = e.client.PlanScaleCluster(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := e.sys.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(e.rec.Total())/n, "kube-requests/op")
	b.ReportMetric(float64(len(e.rec.Mutating()))/n, "kube-writes/op")
	b.ReportMetric(float64(after.OutMsgs-before.OutMsgs)/n, "nats-requests/op")
	b.ReportMetric(float64(after.InMsgs-before.InMsgs)/n, "nats-replies/op")
	b.ReportMetric(float64(len(plan.Steps)), "steps")
	b.Logf("kube requests of the last %d plans: %s", b.N, e.rec.Summary())
}

// BenchmarkLastPeerRemoveToVerified scales a real four-server cluster to
// three and reports the time from the last peer-remove step, started (the
// server is gone from the StatefulSet, the step waits until the meta leader
// sees it offline, removes it and waits for the meta group to shrink) and
// finished, to a passing Verify. Each iteration gets a fresh cluster.
func BenchmarkLastPeerRemoveToVerified(b *testing.B) {
	var fromStart, fromFinish []time.Duration
	for range b.N {
		b.StopTimer()
		var mu sync.Mutex
		var started, finished time.Time
		progress := func(ev scaling.Event) {
			if ev.Step == nil || ev.Step.Action != nats.ActionPeerRemove {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ev.Kind == scaling.StepStarted {
				started = ev.Time
			} else if ev.Kind == scaling.StepFinished {
				finished = ev.Time
			}
		}
		e := newRealNATS(b, 4, nats.Options{Progress: progress})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		stream(b, e.servers, "ORDERS", 3, 10)
		plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3, Evacuate: true})
		require.NoError(b, err)
		b.StartTimer()
		_, err = e.client.Apply(ctx, plan)
		require.NoError(b, err)
		v, err := e.client.Verify(ctx, plan)
		require.NoError(b, err)
		require.Equal(b, scaling.Succeeded, v.Phase, "%s", v)
		verified := time.Now()
		b.StopTimer()
		mu.Lock()
		fromStart = append(fromStart, verified.Sub(started))
		fromFinish = append(fromFinish, verified.Sub(finished))
		mu.Unlock()
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(median(fromStart).Milliseconds()), "ms-from-remove-started")
	b.ReportMetric(float64(median(fromFinish).Milliseconds()), "ms-from-remove-finished")
	b.Logf("from peer-remove started: %v; from finished: %v", fromStart, fromFinish)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
