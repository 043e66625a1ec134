package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/postgres"
)

// FuzzApplyDecodedPlan: any bytes an approval store hands back, decoded
// and applied by a PostgreSQL client, never panic, and whatever Apply
// refuses it refuses before a write: no request that changes the fake
// clientset or the dynamic fake, no new Helm revision. (A step that fails
// after Apply accepted the plan is a *scaling.StepError, not a refusal.)
// Each input is applied twice, on fresh fakes: to the three-instance
// CloudNativePG cluster of the switchover tests and to the release of the
// reference chart with its Cluster and Pooler mirrored. The seeds are real
// plans of those environments, Switchover, ExpandStorage, ScaleInstances
// and ConfigurePooler, stored, edited and truncated; `go test -run '^$'
// -fuzz FuzzApplyDecodedPlan ./postgres/` explores further.
func FuzzApplyDecodedPlan(f *testing.F) {
	ctx := context.Background()
	newRelease := func(t *testing.T) *releaseEnv { return newReleaseEnv(t, pgValues(3, true), true) }

	var plans []*scaling.Plan
	seedT(f, func(t *testing.T) error {
		cnpg, rel := newCNPGEnv(t, 3), newRelease(t)
		for _, plan := range []func() (*scaling.Plan, error){
			func() (*scaling.Plan, error) {
				return cnpg.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: "db", Cluster: "pg"})
			},
			func() (*scaling.Plan, error) { return rel.client.PlanExpandStorage(ctx, expand("20Gi")) },
			func() (*scaling.Plan, error) {
				return rel.client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: relNS, Release: relName, Instances: 5})
			},
			func() (*scaling.Plan, error) {
				return rel.client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: relNS, Release: relName, Instances: 2})
			},
			func() (*scaling.Plan, error) {
				return rel.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Instances: 2, DefaultPoolSize: 15})
			},
		} {
			p, err := plan()
			if err != nil {
				return fmt.Errorf("planning a seed: %w", err)
			}
			plans = append(plans, p)
		}
		if w := append(writes(cnpg.dyn, cnpg.kube), rel.writes()...); len(w) > 0 {
			return fmt.Errorf("planning the seeds wrote %v", w)
		}
		return nil
	})
	for _, p := range plans {
		valid := mustJSON(f, p)
		f.Add(valid)
		f.Add(valid[:len(valid)/2])
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) {
			if steps, _ := m["steps"].([]any); len(steps) > 0 {
				steps[0].(map[string]any)["after"] = "pg-3"
				steps[len(steps)-1].(map[string]any)["after"] = "1000Pi"
			}
		})))
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) {
			m["target"] = map[string]any{"kind": "Cluster", "namespace": "other", "name": "pg-other"}
		})))
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) { m["steps"] = nil })))
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) { m["guards"] = []any{} })))
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) { m["fingerprint"] = map[string]any{} })))
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) { m["operation"] = "nats.ScaleCluster" })))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"operation":"postgres.Switchover","steps":null,"spec":{}}`))
	f.Add([]byte(`{"version":1,"operation":"postgres.Switchover","spec":null,"fingerprint":null}`))
	f.Add([]byte(`{"version":1,"operation":"nats.ScaleCluster","steps":[{"action":"set-release-value","field":"replicaCount","after":"50"}],"spec":{"request":{"namespace":"demo","release":"ironflow","replicas":5}},"fingerprint":{"x":"1"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := scaling.Decode(data)
		if err != nil {
			return
		}
		cnpg := newCNPGEnv(t, 3)
		applyRefusesBeforeWriting(t, "the CloudNativePG cluster", data, func(ctx context.Context) error {
			_, err := cnpg.client.Apply(ctx, p)
			return err
		}, func() []string { return writes(cnpg.dyn, cnpg.kube) }, func() int { return 0 })
		// Apply may have changed the plan it was handed; the release gets
		// the stored bytes decoded again.
		if p, err = scaling.Decode(data); err != nil {
			t.Fatalf("the same bytes decoded once and not again: %v", err)
		}
		rel := newRelease(t)
		applyRefusesBeforeWriting(t, "the release", data, func(ctx context.Context) error {
			_, err := rel.client.Apply(ctx, p)
			return err
		}, rel.writes, func() int { return rel.revision(t) - 1 })
	})
}

// applyRefusesBeforeWriting runs apply with a short deadline and, when it
// refuses the plan (an error that is not a *scaling.StepError), fails t if
// writes lists any write or newRevisions counts a new Helm revision.
func applyRefusesBeforeWriting(t *testing.T, env string, data []byte, apply func(context.Context) error, writes func() []string, newRevisions func() int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := apply(ctx)
	var step *scaling.StepError
	if err == nil || errors.As(err, &step) {
		return
	}
	if w := writes(); len(w) > 0 {
		t.Fatalf("on %s Apply refused (%v) after writing %v; plan %q", env, err, w, data)
	}
	if n := newRevisions(); n != 0 {
		t.Fatalf("on %s Apply refused (%v) and the release has %d new revisions; plan %q", env, err, n, data)
	}
}

// seedT runs build, which uses the package's *testing.T fixtures, before
// the fuzzing starts, where there is only f: on a T of its own, in a
// goroutine of its own so a fixture's FailNow ends build alone, and fails
// f when the T failed or build returned an error.
func seedT(f *testing.F, build func(t *testing.T) error) {
	f.Helper()
	t := &testing.T{}
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = build(t)
	}()
	<-done
	switch {
	case t.Failed():
		f.Fatal("building the seeds: a fixture failed (its messages are not shown: run it in a test)")
	case err != nil:
		f.Fatal(err)
	}
}

func mustJSON(f *testing.F, p *scaling.Plan) []byte {
	f.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
