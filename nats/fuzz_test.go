package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nats/natstest"
)

// FuzzApplyDecodedPlan: any bytes an approval store hands back, decoded
// and applied by a NATS client, never panic, and whatever Apply refuses it
// refuses before a write: no request that changes the fake clientset, no
// new Helm revision. (A step that fails after Apply accepted the plan is a
// *scaling.StepError, not a refusal.) The seeds are real plans of the
// environment, ScaleCluster up and down and ExpandStorage, stored, edited
// and truncated, and the shapes that panicked before Apply re-derived its
// plans; `go test -fuzz FuzzApplyDecodedPlan ./nats/` explores further.
func FuzzApplyDecodedPlan(f *testing.F) {
	ctx := context.Background()
	servers, err := natstest.Start(ctx, natstest.Options{Name: natsSTS, Size: 3})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(servers.Shutdown)
	sys, err := servers.ConnectSystem()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sys.Close)
	app, err := servers.Connect()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(app.Close)

	type env struct {
		kube     *k8sfake.Clientset
		releases *fake.Releases
		client   *nats.Client
	}
	newEnv := func(t testing.TB) env {
		kube := k8sfake.NewClientset()
		rels := fake.NewReleases(kube)
		if _, err := rels.Install(ctx, "demo", release, chartSource.Ref, natsValues(3)); err != nil {
			t.Fatal(err)
		}
		client, err := nats.New(&scaling.Cluster{Kube: kube}, nats.Options{System: sys, Accounts: map[string]*natsgo.Conn{"APP": app},
			Releases: rels, Chart: chartSource, StepTimeout: time.Second, SettleTimeout: time.Second, RequestTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		kube.ClearActions()
		return env{kube, rels, client}
	}

	e := newEnv(f)
	for _, plan := range []func() (*scaling.Plan, error){
		func() (*scaling.Plan, error) {
			return e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: "demo", Release: release, Replicas: 5})
		},
		func() (*scaling.Plan, error) {
			return e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: "demo", Release: release, Replicas: 1})
		},
		func() (*scaling.Plan, error) {
			return e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: "demo", Release: release, Size: "20Gi"})
		},
	} {
		p, err := plan()
		if err != nil {
			// The fake clientset runs no pods or claims: a plan that needs
			// them is an error, and its request still seeds the corpus.
			continue
		}
		valid, err := json.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(valid)
		f.Add(valid[:len(valid)/2])
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) { m["steps"] = nil })))
		f.Add(mustJSON(f, plantest.Edited(f, p, func(m map[string]any) { m["guards"] = []any{} })))
	}
	f.Add([]byte(`{"version":1,"operation":"nats.ScaleCluster","steps":null,"spec":{}}`))
	f.Add([]byte(`{"version":1,"operation":"nats.ScaleCluster","steps":[{"action":"set-release-value","field":"replicaCount","after":"50"}],"spec":{"request":{"namespace":"demo","release":"ironflow","replicas":5}},"fingerprint":{"x":"1"}}`))
	f.Add([]byte(`{"version":1,"operation":"nats.ExpandStorage","steps":[{"action":"resize-claim","object":{"kind":"PersistentVolumeClaim","name":"other"}}],"spec":{"request":{"size":"1000Pi"}},"fingerprint":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := scaling.Decode(data)
		if err != nil {
			return
		}
		e := newEnv(t)
		_, err = e.client.Apply(ctx, p)
		var step *scaling.StepError
		if err == nil || errors.As(err, &step) {
			return
		}
		if w := plantest.Writes(e.kube); len(w) > 0 {
			t.Fatalf("Apply refused (%v) after writing %v", err, w)
		}
		rel, lerr := e.releases.Last(ctx, "demo", release)
		if lerr != nil || rel.Revision != 1 {
			t.Fatalf("Apply refused (%v) and the release is at %v (%v)", err, rel, lerr)
		}
	})
}

func mustJSON(f *testing.F, p *scaling.Plan) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
