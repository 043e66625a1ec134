package verify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ironflow/scaling"
)

func TestEmitterReportsOnlyChanges(t *testing.T) {
	var got []string
	e := NewEmitter(func(ev scaling.Event) { got = append(got, ev.Check.Name+"="+ev.Check.Observed) }, "op")
	e.Emit([]scaling.Check{{Name: "a", Observed: "1"}, {Name: "b", Observed: "x"}})
	e.Emit([]scaling.Check{{Name: "a", Observed: "1"}, {Name: "b", Observed: "y"}})
	assert.Equal(t, []string{"a=1", "b=x", "b=y"}, got)
}

func TestPassed(t *testing.T) {
	assert.False(t, Passed(nil), "no checks is no verdict")
	assert.False(t, Passed([]scaling.Check{{Passed: true}, {Passed: false}}))
	assert.True(t, Passed([]scaling.Check{{Passed: true}}))
}

func TestConclude(t *testing.T) {
	ok := context.Background()
	done, cancel := context.WithCancel(ok)
	cancel()
	for _, tc := range []struct {
		ctx        context.Context
		err        error
		overridden string
		want       scaling.Phase
		reason     string
	}{
		{ok, nil, "", scaling.Succeeded, ""},
		{ok, errors.New("quorum lost"), "", scaling.Failed, "quorum lost"},
		{done, context.Canceled, "", scaling.TimedOut, "too slow"},
		{ok, nil, "hpa", scaling.Overridden, "hpa"},
	} {
		v := Conclude(tc.ctx, &scaling.Verification{}, tc.err, tc.overridden, "too slow")
		assert.Equal(t, tc.want, v.Phase)
		assert.Equal(t, tc.reason, v.Reason)
		assert.False(t, v.Finished.IsZero())
	}
}

func TestWithDeadlineKeepsTheCallersDeadline(t *testing.T) {
	own, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	ctx, stop := WithDeadline(own, time.Minute)
	defer stop()
	d, _ := ctx.Deadline()
	want, _ := own.Deadline()
	assert.Equal(t, want, d, "a caller's deadline wins")

	ctx2, stop2 := WithDeadline(context.Background(), time.Minute)
	defer stop2()
	d2, ok := ctx2.Deadline()
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(time.Minute), d2, 5*time.Second)
}

// TestConcludeNamesWhatDidNotHold: a timed-out Verification's Reason names
// each failing check with what it saw (the scheduler's reason included), and
// a Failed one keeps its typed cause for errors.As.
func TestConcludeNamesWhatDidNotHold(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	v := &scaling.Verification{Checks: []scaling.Check{
		{Name: "spec-replicas", Passed: true, Expected: "5", Observed: "5"},
		{Name: "pods-ready", Expected: "5 Ready pods", Observed: "3 Ready of 5", Detail: "2 pod(s) not scheduled: 0/2 nodes are available: 2 Insufficient cpu"},
	}}
	Conclude(done, v, context.Canceled, "", "deadline passed before every check held")
	assert.Equal(t, "deadline passed before every check held: pods-ready expected 5 Ready pods, observed 3 Ready of 5 (2 pod(s) not scheduled: 0/2 nodes are available: 2 Insufficient cpu)", v.Reason)

	type lost struct{ error }
	cause := lost{errors.New("quorum lost")}
	v = Conclude(context.Background(), &scaling.Verification{}, cause, "", "")
	var got lost
	assert.True(t, errors.As(v.Err, &got), "the cause is reachable from the Verification")
	assert.Equal(t, scaling.Failed, v.Phase)
}

func TestExpired(t *testing.T) {
	assert.Nil(t, Expired(context.Background(), &scaling.Plan{}))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	v := Expired(done, &scaling.Plan{Operation: "op"})
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Contains(t, v.Reason, "deadline had passed before Verify began")
}
