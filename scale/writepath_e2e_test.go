package scale_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/scale"
)

// scaleTo plans and applies a replica count with client and requires a
// write.
func scaleTo(t *testing.T, ctx context.Context, client *scale.Client, ns string, n int32) *scaling.Plan {
	t.Helper()
	plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: n})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	applied, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	require.True(t, applied.Changed, applied.Reason)
	return plan
}

// discoveryRequests are the requests of what the server says about itself.
func discoveryRequests(reqs []reqcount.Request) []string {
	var out []string
	for _, q := range reqs {
		if q.Path == "/version" || q.Path == "/api" || q.Path == "/apis" || q.Path == "/api/v1" || strings.HasPrefix(q.Path, "/openapi") ||
			strings.HasPrefix(q.Path, "/apis/") && strings.Count(q.Path, "/") == 3 {
			out = append(out, q.Method+" "+q.Path)
		}
	}
	return out
}

// Discovery, the server version and the OpenAPI documents are read once per
// scaling.Cluster: a second client on the same cluster (a fresh
// scale.Client, hence a fresh Helm client) plans and upgrades without
// asking for any of them again.
func TestE2EDiscoveryAndOpenAPIReadOncePerCluster(t *testing.T) {
	e := newRealEnv(t, medium(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rec reqcount.Recorder
	cfg := testenv.Shared().RESTConfig()
	cfg.Wrap(rec.Wrap)
	cluster, err := scaling.NewCluster(cfg)
	require.NoError(t, err)
	chart := scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}

	first, err := scale.New(cluster, scale.Options{Chart: chart})
	require.NoError(t, err)
	scaleTo(t, ctx, first, e.ns, 4)
	seen := discoveryRequests(rec.Requests())
	assert.Contains(t, seen, "GET /version")
	assert.Contains(t, seen, "GET /apis")
	assert.NotContains(t, seen, "GET /openapi/v3/apis/postgresql.cnpg.io/v1", "the unchanged CNPG objects are not validated again: nothing to ask")
	assert.NotContains(t, seen, "GET /openapi/v3/apis/apps/v1", "a built-in kind on a server >= 1.27 accepts fieldValidation: nothing to ask")
	for _, p := range seen {
		assert.Equal(t, 1, countOf(seen, p), "%s read once, not once per action: %v", p, seen)
	}

	rec.Reset()
	second, err := scale.New(cluster, scale.Options{Chart: chart})
	require.NoError(t, err)
	scaleTo(t, ctx, second, e.ns, 5)
	assert.Empty(t, discoveryRequests(rec.Requests()), "the second client asks the server nothing about itself:\n%s", rec.Paths())
	assert.NotZero(t, rec.Total(), "the recorder saw the plan and the upgrade")

	// An upgrade that changes a CNPG object validates it, as Helm does:
	// the CRD's field validation is asked, once.
	rec.Reset()
	rels := helmrelease.New(cluster.Config, cluster.Kube)
	rel, err := rels.Last(ctx, e.ns, release)
	require.NoError(t, err)
	vals := values.Copy(rel.Values)
	require.NoError(t, values.Set(vals, "postgresql.instances", 2))
	_, err = rels.Upgrade(ctx, e.ns, release, rel.Revision, chart, vals)
	require.NoError(t, err)
	assert.Equal(t, 1, countOf(discoveryRequests(rec.Requests()), "GET /openapi/v3/apis/postgresql.cnpg.io/v1"), "%s", rec.Paths())
}

func countOf(s []string, x string) int {
	n := 0
	for _, y := range s {
		if y == x {
			n++
		}
	}
	return n
}

// The upgrade sends what the change costs: on the medium release, a 3 -> 5
// patches the app Deployment and nothing else (Helm patched seven objects
// and read every object two or three times), and the records it writes are
// Helm's own: revision 1 superseded, revision 2 deployed, and `helm
// rollback` works from them.
//
// The documented difference with `helm upgrade`: an object the upgrade does
// not change is not read, so a hand edit of it stays (Helm would patch it
// back) until an upgrade that changes it, a rollback, or an upgrade after a
// failed revision, which goes through Helm's full update.
func TestE2EUpgradeTouchesOnlyWhatChanges(t *testing.T) {
	e := newRealEnv(t, medium(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kube := e.cluster.Kube
	pdbs := kube.PolicyV1().PodDisruptionBudgets(e.ns)
	before, err := pdbs.Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)
	svc, err := kube.CoreV1().Services(e.ns).Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)

	e.rec.Reset()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	e.applyAndVerify(t, ctx, plan)
	var patched []string
	for _, q := range e.rec.Mutating() {
		if q.Resource != "secrets" {
			patched = append(patched, q.Verb+" "+q.Resource+"/"+q.Name)
		}
	}
	assert.Equal(t, []string{"patch deployments/" + release}, patched, "only the Deployment changes")
	for _, q := range e.rec.Requests() {
		assert.NotEqual(t, "services", q.Resource, "no Service is read: none changes (%s)", q)
	}
	after, err := pdbs.Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, before.ResourceVersion, after.ResourceVersion, "an unchanged object is not written")
	svcAfter, err := kube.CoreV1().Services(e.ns).Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, svc.ResourceVersion, svcAfter.ResourceVersion)

	// Helm's records, as `helm history` lists them.
	hist, err := kube.CoreV1().Secrets(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + release})
	require.NoError(t, err)
	status := map[string]string{}
	for _, s := range hist.Items {
		status[s.Labels["version"]] = s.Labels["status"]
	}
	assert.Equal(t, map[string]string{"1": "superseded", "2": "deployed"}, status)

	// A hand edit of an object the next upgrade does not change stays.
	_, err = pdbs.Patch(ctx, "ironflow-nats", types.MergePatchType, []byte(`{"spec":{"maxUnavailable":2}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	scaleTo(t, ctx, e.client, e.ns, 4)
	edited, err := pdbs.Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, edited.Spec.MaxUnavailable.IntValue(), "the upgrade left the unchanged PDB alone")

	// Helm's rollback works from these records and is Helm's full update:
	// the count goes back to 3, and the hand edit is patched away.
	require.NoError(t, e.releases.Rollback(ctx, e.ns, release, 1))
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 4, rel.Revision)
	assert.Equal(t, "deployed", rel.Status)
	d, err := kube.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, *d.Spec.Replicas)
	rolled, err := pdbs.Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, rolled.Spec.MaxUnavailable.IntValue(), "Helm's rollback patched the PDB back")
}

// After a failed revision, objects may be anywhere between two manifests:
// the next upgrade reads and three-way patches every object, as Helm does.
func TestE2EUpgradeAfterAFailedRevisionUpdatesEveryObject(t *testing.T) {
	e := newRealEnv(t, medium(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pdbs := e.cluster.Kube.PolicyV1().PodDisruptionBudgets(e.ns)
	scaleTo(t, ctx, e.client, e.ns, 4)
	require.NoError(t, e.releases.SetStatus(e.ns, release, "failed"))
	_, err := pdbs.Patch(ctx, "ironflow-nats", types.MergePatchType, []byte(`{"spec":{"maxUnavailable":2}}`), metav1.PatchOptions{})
	require.NoError(t, err)

	e.rec.Reset()
	scaleTo(t, ctx, e.client, e.ns, 5)
	reads := 0
	for _, q := range e.rec.Requests() {
		if q.Verb == "get" && q.Resource == "services" {
			reads++
		}
	}
	assert.NotZero(t, reads, "every object is read, the Services included")
	pdb, err := pdbs.Get(ctx, "ironflow-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, pdb.Spec.MaxUnavailable.IntValue(), "Helm's three-way patch restored the chart's value")
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 3, rel.Revision)
	assert.Equal(t, "deployed", rel.Status)
}
