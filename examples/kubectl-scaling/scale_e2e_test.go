package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// The rest of the service's runbook through the plugin, each command
// applied and verified on the real control plane (the HPA controller
// included): autoscale, the off-hours down (the HPA's minimum with the
// count), new resources, a rollout restart; a size template planned and
// saved; the recommendation as a document.
func TestE2EScaleCommandsApplyAndVerify(t *testing.T) {
	u := newUserEnv(t, appOnly(3))
	steps := []struct {
		args  []string
		after func()
	}{
		{[]string{"autoscale", release, "--min", "2", "--max", "5"}, nil},
		{[]string{"down", release}, func() { assert.Equal(t, 1, u.readyPods()) }},
		{[]string{"resources", release, "--requests", "cpu=300m,memory=300Mi", "--limits", "memory=300Mi"}, nil},
		{[]string{"rollout-restart", "deployment/" + release}, func() { assert.Equal(t, 1, u.readyPods()) }},
	}
	rev := u.revision()
	for _, s := range steps {
		r := u.run(append(s.args, "--auto-approve", "-o", "json")...)
		require.Equal(t, exitOK, r.code, "%v: %s", s.args, r)
		var doc struct {
			Verification scaling.Verification `json:"verification"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), "%v", s.args)
		assert.Equal(t, scaling.Succeeded, doc.Verification.Phase, "%v", s.args)
		if s.after != nil {
			s.after()
		}
	}
	assert.Equal(t, rev+3, u.revision(), "autoscale, down and resources are Helm upgrades; a restart is not")

	tmpl := u.run("template", release, "medium", "--out", "medium.json")
	require.Equal(t, exitOK, tmpl.code, tmpl)
	assert.Contains(t, tmpl.stdout, scale.OpTemplate)

	rec := u.run("recommend", release, "-o", "json")
	require.Equal(t, exitOK, rec.code, rec)
	var r scale.Recommendation
	require.NoError(t, json.Unmarshal([]byte(rec.stdout), &r))
	assert.Equal(t, release, r.Release)
	assert.NotEmpty(t, r.Verdict)
}
