package scaling_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

// recorder is an Operator that records which plans reached it.
type recorder struct {
	ops  []string
	seen []string
}

func (r *recorder) Operations() []string { return r.ops }
func (r *recorder) Apply(_ context.Context, p *scaling.Plan) (*scaling.Applied, error) {
	r.seen = append(r.seen, "apply "+p.Operation)
	return &scaling.Applied{Operation: p.Operation, Changed: true}, nil
}
func (r *recorder) Verify(_ context.Context, p *scaling.Plan) (*scaling.Verification, error) {
	r.seen = append(r.seen, "verify "+p.Operation)
	return &scaling.Verification{Operation: p.Operation, Phase: scaling.Succeeded}, nil
}

func TestRouterSendsEachPlanToItsOperator(t *testing.T) {
	a, b := &recorder{ops: []string{"a.One", "a.Two"}}, &recorder{ops: []string{"b.One"}}
	r, err := scaling.NewRouter(a, b)
	require.NoError(t, err)
	assert.Equal(t, []string{"a.One", "a.Two", "b.One"}, r.Operations())
	ctx := context.Background()
	for _, op := range []string{"a.Two", "b.One"} {
		plan := &scaling.Plan{Version: scaling.PlanVersion, Operation: op}
		_, err := r.Apply(ctx, plan)
		require.NoError(t, err)
		_, err = r.Verify(ctx, plan)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"apply a.Two", "verify a.Two"}, a.seen)
	assert.Equal(t, []string{"apply b.One", "verify b.One"}, b.seen)

	for _, plan := range []*scaling.Plan{nil, {Version: scaling.PlanVersion, Operation: "c.Nope"}, {Version: 99, Operation: "a.One"}} {
		_, err := r.Apply(ctx, plan)
		assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
		_, err = r.Verify(ctx, plan)
		assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	}
	assert.Len(t, a.seen, 2, "refused plans reach no operator")

	_, err = scaling.NewRouter(a, &recorder{ops: []string{"a.One"}})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput, "one operation, two operators")
	_, err = scaling.NewRouter(a, nil)
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
}

func TestStepErrorReachesItsCause(t *testing.T) {
	cause := context.DeadlineExceeded
	err := error(&scaling.StepError{Operation: "nats.ScaleCluster", Index: 2, Step: scaling.Step{Action: "peer-remove", Object: scaling.ObjectRef{Kind: "NATSServer", Name: "n-4"}},
		Done: []scaling.Step{{Action: "evacuate"}, {Action: "set-release-value"}}, Err: cause})
	assert.ErrorIs(t, err, scaling.ErrStepFailed)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var se *scaling.StepError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, "nats.ScaleCluster: step 3 (peer-remove NATSServer/n-4) failed after 2 step(s) took effect: context deadline exceeded", err.Error())
}
