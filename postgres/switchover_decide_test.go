package postgres

import (
	"errors"
	"testing"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
)

// threeInstances is a healthy 3-instance cluster pg with pg-1 primary at
// 0/5000000, pg-2 replaying at 0/4FFF000 and pg-3 at 0/3FFFFFF (a byte
// more than 16 MiB behind), all Ready, behind a Pooler.
func threeInstances() *switchoverState {
	st := &switchoverState{
		cluster: &apiv1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: "db", Annotations: map[string]string{}},
			Spec:   apiv1.ClusterSpec{Instances: 3},
			Status: apiv1.ClusterStatus{CurrentPrimary: "pg-1", TargetPrimary: "pg-1", Phase: apiv1.PhaseHealthy}},
		pods:    map[string]*corev1.Pod{},
		status:  map[string]*InstanceStatus{},
		unread:  map[string]error{},
		poolers: []string{"pg-pooler-rw"},
	}
	for name, s := range map[string]*InstanceStatus{
		"pg-1": {IsPrimary: true, CurrentLSN: 0x5000000},
		"pg-2": {ReceivedLSN: 0x5000000, ReplayLSN: 0x4FFF000, WALReceiverActive: true},
		"pg-3": {ReceivedLSN: 0x4800000, ReplayLSN: 0x3FFFFFF, WALReceiverActive: true},
	} {
		s.Pod = name
		st.status[name] = s
		st.pods[name] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db"},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	return st
}

func blocking[E error](t *testing.T, d switchoverDecision, guard string) E {
	t.Helper()
	var zero E
	for _, g := range d.guards {
		if g.Name == guard {
			require.Equal(t, scaling.Block, g.Outcome, "%s: %s", guard, g.Reason)
			var e E
			require.True(t, errors.As(g.Cause, &e), "%s: cause %T", guard, g.Cause)
			return e
		}
	}
	t.Fatalf("no guard %s in %+v", guard, d.guards)
	return zero
}

func passes(t *testing.T, d switchoverDecision) {
	t.Helper()
	for _, g := range d.guards {
		assert.NotEqual(t, scaling.Block, g.Outcome, "%s: %s", g.Name, g.Reason)
	}
}

func TestSwitchoverPicksTheMostAdvancedReadyReplica(t *testing.T) {
	d := decideSwitchover(Switchover{Cluster: "pg"}, threeInstances())
	passes(t, d)
	assert.Equal(t, "pg-2", d.target, "replayed 0/4FFF000 beats 0/3FFFFFF")

	st := threeInstances()
	st.status["pg-3"].ReceivedLSN, st.status["pg-3"].ReplayLSN = 0x5000000, 0x4FFF800
	assert.Equal(t, "pg-3", decideSwitchover(Switchover{Cluster: "pg"}, st).target, "the higher replay wins")

	// A replica whose replay is paused keeps receiving: it may have
	// received a few bytes more (its status read a moment later), and
	// still be megabytes behind in replay. Seen on real PostgreSQL.
	st = threeInstances()
	st.status["pg-2"].ReceivedLSN, st.status["pg-2"].ReplayLSN = 0x5000100, 0x4DD0000
	st.status["pg-3"].ReceivedLSN, st.status["pg-3"].ReplayLSN = 0x5000000, 0x5000000
	assert.Equal(t, "pg-3", decideSwitchover(Switchover{Cluster: "pg"}, st).target, "the replica that replayed most, not the one that received most")

	st = threeInstances()
	st.status["pg-3"].ReceivedLSN, st.status["pg-3"].ReplayLSN = 0x5000100, 0x4FFF000
	assert.Equal(t, "pg-3", decideSwitchover(Switchover{Cluster: "pg"}, st).target, "replay ties: the higher receive wins")

	st = threeInstances()
	st.pods["pg-2"].Status.Conditions[0].Status = corev1.ConditionFalse
	d = decideSwitchover(Switchover{Cluster: "pg", MaxLagBytes: 32 << 20}, st)
	passes(t, d)
	assert.Equal(t, "pg-3", d.target, "an unready replica is no candidate")
}

func TestSwitchoverBlocksALaggingTarget(t *testing.T) {
	d := decideSwitchover(Switchover{Cluster: "pg", Target: "pg-3"}, threeInstances())
	lag := blocking[*LagError](t, d, GuardLag)
	assert.Equal(t, &LagError{Target: "pg-3", LagBytes: 0x1000001, MaxLagBytes: DefaultMaxLagBytes, Primary: "0/5000000", Replay: "0/3FFFFFF"}, lag)
	assert.ErrorIs(t, lag, ErrLag)
	assert.Contains(t, lag.Error(), "16777217 bytes behind the primary's 0/5000000")

	// 16 MiB exactly is within the default; the byte more was not.
	st := threeInstances()
	st.status["pg-3"].ReplayLSN = 0x4000000
	passes(t, decideSwitchover(Switchover{Cluster: "pg", Target: "pg-3"}, st))
	passes(t, decideSwitchover(Switchover{Cluster: "pg", Target: "pg-3", MaxLagBytes: 0x1000001}, threeInstances()))
	blocking[*LagError](t, decideSwitchover(Switchover{Cluster: "pg", Target: "pg-2", MaxLagBytes: 100}, threeInstances()), GuardLag)

	st = threeInstances()
	delete(st.status, "pg-3")
	st.unread["pg-3"] = errors.New("pods/proxy forbidden")
	unread := blocking[*LagError](t, decideSwitchover(Switchover{Cluster: "pg", Target: "pg-3"}, st), GuardLag)
	assert.Equal(t, "postgres: the lag of pg-3 cannot be read: pods/proxy forbidden", unread.Error())
	assert.ErrorIs(t, unread, ErrLag)
}

func TestSwitchoverRefusesWhatThePluginDoesNot(t *testing.T) {
	for name, c := range map[string]struct {
		req    Switchover
		edit   func(*switchoverState)
		guard  string
		target error
	}{
		"single instance": {Switchover{}, func(s *switchoverState) {
			s.cluster.Spec.Instances = 1
			s.pods = map[string]*corev1.Pod{"pg-1": s.pods["pg-1"]}
		}, GuardInstances, ErrSingleInstance},
		"switchover in flight": {Switchover{}, func(s *switchoverState) {
			s.cluster.Status.TargetPrimary, s.cluster.Status.Phase = "pg-3", apiv1.PhaseSwitchover
		}, GuardInFlight, ErrInFlight},
		"failing over": {Switchover{}, func(s *switchoverState) { s.cluster.Status.Phase = apiv1.PhaseFailOver }, GuardInFlight, ErrInFlight},
		"fenced":       {Switchover{}, func(s *switchoverState) { s.cluster.Annotations[AnnotationFenced] = `["pg-1"]` }, GuardFenced, ErrUnavailable},
		"fenced all":   {Switchover{}, func(s *switchoverState) { s.cluster.Annotations[AnnotationFenced] = `["*"]` }, GuardFenced, ErrUnavailable},
		"hibernated":   {Switchover{}, func(s *switchoverState) { s.cluster.Annotations[AnnotationHibernate] = "on" }, GuardHibernate, ErrUnavailable},
		"replica cluster": {Switchover{}, func(s *switchoverState) {
			s.cluster.Spec.ReplicaCluster = &apiv1.ReplicaClusterConfiguration{Enabled: ptrTo(true), Source: "pg-eu"}
		}, GuardReplica, ErrUnavailable},
		"replica by name": {Switchover{}, func(s *switchoverState) {
			s.cluster.Spec.ReplicaCluster = &apiv1.ReplicaClusterConfiguration{Primary: "pg-eu", Source: "pg-eu"}
		}, GuardReplica, ErrUnavailable},
		"target is the primary":     {Switchover{Target: "pg-1"}, nil, GuardTarget, ErrTarget},
		"target of another cluster": {Switchover{Target: "other-1"}, nil, GuardTarget, ErrTarget},
		"target not ready":          {Switchover{Target: "pg-2"}, func(s *switchoverState) { s.pods["pg-2"].Status.Conditions = nil }, GuardTarget, ErrTarget},
		"no replica has a status":   {Switchover{}, func(s *switchoverState) { delete(s.status, "pg-2"); delete(s.status, "pg-3") }, GuardTarget, ErrTarget},
	} {
		t.Run(name, func(t *testing.T) {
			st := threeInstances()
			if c.edit != nil {
				c.edit(st)
			}
			d := decideSwitchover(c.req, st)
			g := blocking[error](t, d, c.guard)
			assert.ErrorIs(t, g, c.target)
		})
	}

	// "Waiting for user action" under primaryUpdateStrategy supervised is
	// what a switchover is for.
	st := threeInstances()
	st.cluster.Status.Phase = apiv1.PhaseWaitingForUser
	passes(t, decideSwitchover(Switchover{}, st))
}

func TestSwitchoverWithoutAPoolerWarns(t *testing.T) {
	st := threeInstances()
	st.poolers = nil
	d := decideSwitchover(Switchover{}, st)
	passes(t, d)
	var pooler scaling.GuardResult
	for _, g := range d.guards {
		if g.Name == GuardPooler {
			pooler = g
		}
	}
	assert.Equal(t, scaling.Warn, pooler.Outcome)
	assert.Contains(t, pooler.Reason, "clients see connection errors")
}

func ptrTo[T any](v T) *T { return &v }
