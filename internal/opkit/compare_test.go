package opkit

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ironflow/scaling"
)

func comparable() *scaling.Plan {
	return &scaling.Plan{
		Operation: "scale.Replicas",
		Target:    scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "web"},
		Summary:   "Scale Deployment/prod/web from 3 to 5 replicas.",
		Steps:     []scaling.Step{{Action: "helm upgrade", Field: "replicaCount", Before: "3", After: "5"}},
		Guards:    []scaling.GuardResult{{Name: "quota", Outcome: scaling.Pass, Reason: "2 more pods fit"}},
		Diff:      "values:\n-  replicaCount: 3\n+  replicaCount: 5\n",
		Spec:      json.RawMessage(`{"request":{"replicas":5,"namespace":"prod"},"causes":{"x":{}}}`),
	}
}

func fields(ds []scaling.Difference) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Field)
	}
	return out
}

func TestCompareFindsEveryEdit(t *testing.T) {
	assert.Empty(t, Compare(comparable(), comparable()), "two honest plannings of the same state agree")

	honest := comparable()
	honest.Guards[0].Reason = "2 more pods fit (8 left)"
	honest.Spec = json.RawMessage(`{"causes":{},"request":{"namespace":"prod","replicas":5}}`)
	assert.Empty(t, Compare(comparable(), honest), "a guard's wording, key order and causes are not what was approved")

	for name, edit := range map[string]func(p *scaling.Plan){
		"spec.request.replicas": func(p *scaling.Plan) { p.Spec = json.RawMessage(`{"request":{"replicas":50,"namespace":"prod"}}`) },
		"target":                func(p *scaling.Plan) { p.Target.Namespace = "staging" },
		"summary":               func(p *scaling.Plan) { p.Summary = "Scale to 50" },
		"steps[0]":              func(p *scaling.Plan) { p.Steps[0].After = "50" },
		"steps":                 func(p *scaling.Plan) { p.Steps = nil },
		"diff":                  func(p *scaling.Plan) { p.Diff = "values:\n-  replicaCount: 3\n+  replicaCount: 50\n" },
		"guard quota":           func(p *scaling.Plan) { p.Guards[0].Outcome = scaling.Block },
		"guards":                func(p *scaling.Plan) { p.Guards = nil },
		"no-op":                 func(p *scaling.Plan) { p.NoOp = true },
	} {
		stored := comparable()
		edit(stored)
		assert.Contains(t, fields(Compare(stored, comparable())), name, "an edited %s is found", name)
	}

	garbled := comparable()
	garbled.Spec = json.RawMessage(`[`)
	assert.Equal(t, []string{"spec"}, fields(Compare(garbled, comparable())))
	injected := comparable()
	injected.Spec = json.RawMessage(`{"request":{"replicas":5,"namespace":"prod"},"values":{"image":"evil.example/backdoor:latest"}}`)
	assert.Equal(t, []scaling.Difference{{Field: "spec.values", Planned: `{"image":"evil.example/backdoor:latest"}`, Derived: "(none)"}}, Compare(injected, comparable()))
}

func TestCompareShowsTheLineThatDiffers(t *testing.T) {
	stored := comparable()
	stored.Diff = "values:\n-  replicaCount: 3\n+  image: evil.example/backdoor:latest\n"
	ds := Compare(stored, comparable())
	assert.Equal(t, []scaling.Difference{{Field: "diff", Planned: "line 3: +  image: evil.example/backdoor:latest", Derived: "line 3: +  replicaCount: 5"}}, ds)
}
