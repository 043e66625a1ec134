package fake_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/scale"
)

// TestConcurrentUseOnTwoNamespaces: tools test their own concurrency on
// this fake. Reads of one namespace never return the other's release, and
// concurrent plans and applies on both are race-clean (run with -race; CI
// does). Issue 11: 4 of 600 reads returned the other namespace's release,
// and -race reported a race in the in-memory storage.
func TestConcurrentUseOnTwoNamespaces(t *testing.T) {
	ctx := context.Background()
	kube := k8sfake.NewClientset()
	r := fake.NewReleases(kube)
	counts := map[string]int{"prod": 3, "staging": 1}
	for ns, n := range counts {
		_, err := r.Install(ctx, ns, "web", chart, map[string]any{"replicaCount": n, "cluster": map[string]any{"enabled": true}})
		require.NoError(t, err)
	}
	client, err := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: r, Chart: chartSource})
	require.NoError(t, err)

	var wg sync.WaitGroup
	wrong := make(chan string, 1000)
	for ns, n := range counts {
		for range 150 {
			wg.Go(func() {
				rel, err := r.Last(ctx, ns, "web")
				if err != nil {
					wrong <- ns + ": " + err.Error()
					return
				}
				if rel.Namespace != ns {
					wrong <- "asked for " + ns + ", got " + rel.Namespace
				}
				if got, _ := rel.Values["replicaCount"].(int); rel.Revision == 1 && got != n {
					wrong <- ns + " revision 1 has another replicaCount"
				}
			})
		}
		for range 5 {
			wg.Go(func() {
				plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: "web", Replicas: int32(n + 1)})
				if err != nil {
					wrong <- ns + " plan: " + err.Error()
					return
				}
				// Concurrent applies of one plan: one upgrades, the others
				// find the release moved (stale) or already holding.
				if _, err := client.Apply(ctx, plan); err != nil && !isRace(err) {
					wrong <- ns + " apply: " + err.Error()
				}
			})
		}
	}
	wg.Wait()
	close(wrong)
	var problems []string
	for w := range wrong {
		problems = append(problems, w)
	}
	assert.Empty(t, problems)
	for ns, n := range counts {
		rel, err := r.Last(ctx, ns, "web")
		require.NoError(t, err)
		assert.Equal(t, ns, rel.Namespace)
		assert.EqualValues(t, n+1, rel.Values["replicaCount"], ns)
		assert.Equal(t, 2, rel.Revision, "%s: one of the concurrent applies upgraded, the others changed nothing", ns)
	}
}

// isRace says whether an Apply lost a race to an identical one, which is
// a typed refusal, not a failure.
func isRace(err error) bool {
	return errors.Is(err, scaling.ErrStalePlan) || errors.Is(err, scaling.ErrReleasePending)
}
