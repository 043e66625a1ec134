package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

func TestExitCodesFollowTheSDKsErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("no route to host"), exitFailed},
		{&scaling.InvalidInputError{Field: "COUNT"}, exitFailed},
		{fmt.Errorf("apply: %w", &scaling.GuardBlockedError{Operation: "scale.Replicas"}), exitBlocked},
		{fmt.Errorf("apply: %w", &scaling.StalePlanError{Operation: "scale.Replicas"}), exitStale},
		{fmt.Errorf("apply: %w", scaling.ErrPlanMismatch), exitStale},
		{&exitError{code: exitVerify, err: errors.New("verification TimedOut")}, exitVerify},
		{fmt.Errorf("wrapped: %w", &exitError{code: exitBlocked, err: errShown}), exitBlocked},
	} {
		assert.Equal(t, c.want, exitCode(c.err), "%v", c.err)
	}
}

func TestParseArguments(t *testing.T) {
	ref, ok, err := parseWorkload("sts/db", "prod")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, scaling.ObjectRef{Kind: "StatefulSet", Namespace: "prod", Name: "db"}, ref)
	_, ok, err = parseWorkload("ironflow", "prod")
	assert.False(t, ok, "a release name")
	assert.NoError(t, err)
	for _, bad := range []string{"pod/x", "deployment/", "/x"} {
		_, _, err := parseWorkload(bad, "prod")
		var in *scaling.InvalidInputError
		assert.ErrorAs(t, err, &in, bad)
	}

	rl, err := parseResources("quota", []string{"requests.cpu=4,limits.cpu=8", "pods=40"})
	require.NoError(t, err)
	assert.Len(t, rl, 3)
	assert.Equal(t, "8", ptrString(rl, "limits.cpu"))
	for _, bad := range []string{"cpu", "=4", "cpu=lots"} {
		_, err := parseResources("quota", []string{bad})
		var in *scaling.InvalidInputError
		require.ErrorAs(t, err, &in, bad)
		assert.Contains(t, in.Field, "quota")
	}
	_, err = parseCount("COUNT", "-1")
	assert.Error(t, err)
	set, err := parseSettings("parameter", []string{"work_mem=16MB", "search_path=a=b"})
	require.NoError(t, err)
	assert.Equal(t, "a=b", set["search_path"], "only the first = separates")
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []options{{output: "xml"}, {output: "text", timeout: -time.Second}, {output: "json", out: "p.json", autoApprove: true}} {
		var in *scaling.InvalidInputError
		assert.ErrorAs(t, o.validate(), &in, "%+v", o)
	}
	assert.NoError(t, (&options{output: "yaml", out: "p.json"}).validate())
}

// lineDisplay's log: one timestamped line per change, repeated check
// observations dropped, steps an earlier step carried out said so.
func TestLineDisplay(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	// Every reading of the clock is 10ms later; events carry their own time.
	d := &lineDisplay{w: &buf, now: func() time.Time { at = at.Add(10 * time.Millisecond); return at }}
	plan := &scaling.Plan{Operation: "scale.Replicas", Target: scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"},
		Steps: []scaling.Step{{Action: "helm upgrade", Object: scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"}, Field: "replicaCount", Before: "3", After: "5"},
			{Action: "scale", Object: scaling.ObjectRef{Kind: "Deployment", Namespace: "prod", Name: "ironflow"}, Field: "spec.replicas", Before: "3", After: "5"}}}
	d.begin("Applying", plan)
	d.event(scaling.Event{Kind: scaling.StepStarted, Index: 0, Step: &plan.Steps[0], Time: at})
	d.event(scaling.Event{Kind: scaling.StepFinished, Index: 0, Step: &plan.Steps[0], Time: at.Add(42 * time.Millisecond)})
	d.end(nil)
	d.begin("Verifying", plan)
	waiting := &scaling.Check{Name: "pods-ready", Expected: "5 Ready", Observed: "3 Ready of 5", Detail: "2 Pending"}
	d.event(scaling.Event{Kind: scaling.CheckObserved, Check: waiting})
	d.event(scaling.Event{Kind: scaling.CheckObserved, Check: waiting})
	d.event(scaling.Event{Kind: scaling.CheckObserved, Check: &scaling.Check{Name: "pods-ready", Expected: "5 Ready", Observed: "5 Ready of 5", Passed: true}})
	d.end(&exitError{code: exitVerify, err: errors.New("verification TimedOut")})
	assert.Equal(t, `2026-12-03T06:00:00.020Z Applying scale.Replicas on HelmRelease/prod/ironflow: 2 step(s)
2026-12-03T06:00:00.030Z Applying step 1/2 helm upgrade HelmRelease/prod/ironflow replicaCount: 3 -> 5: started
2026-12-03T06:00:00.040Z Applying step 1/2: done in 52ms
2026-12-03T06:00:00.050Z Applying step 2/2 scale Deployment/prod/ironflow spec.replicas: 3 -> 5: not run (no action of its own: done by an earlier step)
2026-12-03T06:00:00.070Z Applying finished in 50ms
2026-12-03T06:00:00.090Z Verifying scale.Replicas on HelmRelease/prod/ironflow
2026-12-03T06:00:00.100Z Verifying check pods-ready: 3 Ready of 5 (expected 5 Ready) waiting: 2 Pending
2026-12-03T06:00:00.110Z Verifying check pods-ready: 5 Ready of 5 (expected 5 Ready) ok
2026-12-03T06:00:00.130Z Verifying stopped after 40ms: verification TimedOut
`, buf.String())
}

// Commands that need no cluster, in-process: show a saved plan in each
// format, refuse a file that is not a plan, print a stale plan's drift.
func TestShowAndErrorsWithoutACluster(t *testing.T) {
	dir := t.TempDir()
	plan := &scaling.Plan{Version: scaling.PlanVersion, Operation: "scale.Replicas", Summary: "Scale it.",
		Target: scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"}, Steps: []scaling.Step{{Action: "helm upgrade", Field: "replicaCount", Before: "3", After: "5"}}}
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	path := filepath.Join(dir, "p.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))

	var out, errOut bytes.Buffer
	s := streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	require.Equal(t, exitOK, run(context.Background(), []string{"show", path}, s), errOut.String())
	assert.Contains(t, out.String(), "replicaCount: 3 -> 5")
	out.Reset()
	require.Equal(t, exitOK, run(context.Background(), []string{"show", path, "-o", "yaml"}, s))
	assert.Contains(t, out.String(), "operation: scale.Replicas")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.json"), []byte(`{"hello":1}`), 0o600))
	errOut.Reset()
	assert.Equal(t, exitFailed, run(context.Background(), []string{"show", filepath.Join(dir, "junk.json")}, s))
	assert.Contains(t, errOut.String(), "Error: ")

	var w bytes.Buffer
	printError(&w, fmt.Errorf("apply: %w", &scaling.StalePlanError{Operation: "scale.Replicas", Drift: []scaling.Drift{{Key: "helm/prod/ironflow", Planned: "1", Live: "2"}}}))
	assert.Contains(t, w.String(), "helm/prod/ironflow: planned 1, live 2")
	assert.Contains(t, w.String(), "Plan again")
}

func TestGuardAdviceNamesTheFlags(t *testing.T) {
	assert.Equal(t, "keep at least 2 servers, or set --disable-clustering (with --lower-stream-replicas and --evacuate when streams have replicas)",
		asFlags("keep at least 2 servers, or set DisableClustering (with LowerStreamReplicas and Evacuate when streams have replicas)"))
	assert.Equal(t, "Evacuated servers keep ValuePath", asFlags("Evacuated servers keep ValuePath"), "only whole field names the plugin has flags for")
}
