package postgres

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/pods"
)

// CloudNativePG's labels and annotations (its pkg/utils holds them; it is
// not imported, since it brings the operator's dependencies).
const (
	LabelCluster      = "cnpg.io/cluster"
	LabelInstanceRole = "cnpg.io/instanceRole"
	// LabelRole is the deprecated role label the operator still writes.
	LabelRole           = "role"
	LabelPodRole        = "cnpg.io/podRole"
	AnnotationFenced    = "cnpg.io/fencedInstances"
	AnnotationHibernate = "cnpg.io/hibernation"
)

// DefaultMaxLagBytes is how far behind the primary a switchover's target
// may replay (16 MiB, one WAL segment): the switch waits for the target to
// replay what it has not, so the database is unwritable about as long as
// that takes.
const DefaultMaxLagBytes = 16 << 20

// Switchover asks to move a CloudNativePG cluster's primary to another
// instance, what `kubectl cnpg promote CLUSTER INSTANCE` does, with the
// guards the plugin lacks.
type Switchover struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Target is the instance (pod) to promote; empty picks the ready
	// replica with the highest received, then replayed, position, as the
	// operator ranks candidates.
	Target string `json:"target,omitempty"`
	// MaxLagBytes is how far the target's replay may be behind the
	// primary's write position; zero means DefaultMaxLagBytes.
	MaxLagBytes int64 `json:"maxLagBytes,omitempty"`
	// PausePooler pauses the read-write Poolers in front of the cluster
	// (PgBouncer's PAUSE, spec.pgbouncer.paused) before the promotion and
	// resumes them once the target serves: clients wait for the new
	// primary instead of failing. Apply resumes them even when the switch
	// fails or ctx ends. A Pooler already paused is left as it is.
	PausePooler bool `json:"pausePooler,omitempty"`
}

// switchoverState is what a switchover plan reads, once, before any guard.
type switchoverState struct {
	cluster *apiv1.Cluster
	// pods are the cluster's instance pods by name.
	pods map[string]*corev1.Pod
	// status is each instance's reported status; unread holds why one
	// could not be read.
	status map[string]*InstanceStatus
	unread map[string]error
	// poolers are the read-write Poolers in front of the cluster; paused
	// those already paused.
	poolers []string
	paused  map[string]bool
}

// switchoverDecision is the guards' verdicts, the instance to promote and
// the Poolers to pause around it.
type switchoverDecision struct {
	target string
	pause  []string
	guards []scaling.GuardResult
}

// decideSwitchover evaluates the guards on the state and picks the target.
// It is pure: the plan and Apply's re-derivation make the same decision
// from the same reading.
func decideSwitchover(req Switchover, st *switchoverState) switchoverDecision {
	c := st.cluster
	primary := c.Status.CurrentPrimary
	var d switchoverDecision
	add := func(g scaling.GuardResult) { d.guards = append(d.guards, g) }

	if c.Spec.Instances < 2 {
		add(block(GuardInstances, &SingleInstanceError{Cluster: c.Name, Primary: primary}, "add a replica (postgresql.instances 2+) and plan again"))
	} else {
		add(pass(GuardInstances, fmt.Sprintf("%d instances", c.Spec.Instances)))
	}
	add(inFlightGuard(c))
	add(unavailableGuard(c))

	target, tg := pickTarget(req, st)
	add(tg)
	d.target = target
	if target != "" {
		add(lagGuard(req, st, target))
	}
	if len(st.poolers) == 0 {
		add(warn(GuardPooler, "no PgBouncer Pooler fronts the cluster: clients see connection errors while the primary moves",
			"put a Pooler of type rw in front (postgresql.pooler.enabled) so clients wait instead of failing"))
	} else {
		add(pass(GuardPooler, "Pooler "+joinNames(st.poolers)+" fronts the cluster"))
	}
	if req.PausePooler {
		for _, p := range st.poolers {
			if !st.paused[p] {
				d.pause = append(d.pause, p)
			}
		}
	}
	return d
}

// inFlightGuard: a switchover starts from a healthy cluster whose primary
// is not already moving; "Waiting for user action" (a supervised update
// waiting for exactly this) is a valid start.
func inFlightGuard(c *apiv1.Cluster) scaling.GuardResult {
	s := c.Status
	moving := s.TargetPrimary != "" && s.CurrentPrimary != s.TargetPrimary
	startable := s.Phase == apiv1.PhaseHealthy || s.Phase == apiv1.PhaseWaitingForUser
	if moving || !startable {
		return block(GuardInFlight, &InFlightError{Cluster: c.Name, CurrentPrimary: s.CurrentPrimary, TargetPrimary: s.TargetPrimary, Phase: s.Phase},
			"wait until the cluster is healthy with its primary settled, then plan again")
	}
	return pass(GuardInFlight, fmt.Sprintf("phase %q, primary %s settled", s.Phase, s.CurrentPrimary))
}

// unavailableGuard: a fenced primary cannot be promoted from or to, a
// hibernated cluster runs no instance, a replica cluster's primary follows
// another cluster.
func unavailableGuard(c *apiv1.Cluster) scaling.GuardResult {
	if raw := c.Annotations[AnnotationFenced]; raw != "" {
		var fenced []string
		if err := json.Unmarshal([]byte(raw), &fenced); err != nil || len(fenced) > 0 {
			return block(GuardFenced, &UnavailableError{Cluster: c.Name, Why: "has fenced instances (" + raw + ")", Fenced: fenced},
				"lift the fencing (kubectl cnpg fencing off) and plan again")
		}
	}
	if c.Annotations[AnnotationHibernate] == "on" {
		return block(GuardHibernate, &UnavailableError{Cluster: c.Name, Why: "is hibernated: no instance runs"}, "wake it (cnpg.io/hibernation=off) first")
	}
	if r := c.Spec.ReplicaCluster; r != nil && isReplicaCluster(c.Name, r) {
		return block(GuardReplica, &UnavailableError{Cluster: c.Name, Why: "is a replica cluster: its primary follows " + r.Source},
			"promote the replica cluster (spec.replica.primary) instead")
	}
	return pass(GuardFenced, "not fenced, hibernated or a replica cluster")
}

// isReplicaCluster is the operator's rule: enabled when set, otherwise
// this cluster is not the one spec.replica.primary names.
func isReplicaCluster(name string, r *apiv1.ReplicaClusterConfiguration) bool {
	if r.Enabled != nil {
		return *r.Enabled
	}
	if r.Primary == "" {
		return false
	}
	self := r.Self
	if self == "" {
		self = name
	}
	return self != r.Primary
}

// pickTarget returns the instance to promote and the target guard: the
// requested one when it is a ready replica of this cluster, or the best
// ready replica by replayed, then received, position.
//
// Replayed first: the target is promoted only once it has replayed what it
// received, so the most replayed replica is the quickest switchover and the
// one the lag guard measures. A replica whose replay is stuck (paused, or
// a long query conflicting) still receives WAL: ranked by received
// position it could win by the few bytes written between reading one
// status and the next, and be promoted megabytes behind.
func pickTarget(req Switchover, st *switchoverState) (string, scaling.GuardResult) {
	c := st.cluster
	primary := c.Status.CurrentPrimary
	refuse := func(target, reason string) (string, scaling.GuardResult) {
		return "", block(GuardTarget, &TargetError{Cluster: c.Name, Target: target, Reason: reason}, "name a ready replica of the cluster, or none to let the plan pick")
	}
	if req.Target != "" {
		if req.Target == primary {
			return refuse(req.Target, "it is the primary already")
		}
		pod, ok := st.pods[req.Target]
		if !ok {
			return refuse(req.Target, "it is not an instance of this cluster")
		}
		if !podReady(pod) {
			return refuse(req.Target, "its pod is not Ready")
		}
		return req.Target, pass(GuardTarget, req.Target+" is a ready replica")
	}
	var candidates []*InstanceStatus
	for name, pod := range st.pods {
		if name == primary || !podReady(pod) {
			continue
		}
		if s, ok := st.status[name]; ok && !s.IsPrimary {
			candidates = append(candidates, s)
		}
	}
	if len(candidates) == 0 {
		return refuse("", "no replica is Ready with a readable status")
	}
	sort.Slice(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if a.ReplayLSN != b.ReplayLSN {
			return a.ReplayLSN > b.ReplayLSN
		}
		if a.ReceivedLSN != b.ReceivedLSN {
			return a.ReceivedLSN > b.ReceivedLSN
		}
		return a.Pod < b.Pod
	})
	best := candidates[0]
	return best.Pod, pass(GuardTarget, fmt.Sprintf("%s is the most advanced ready replica (replayed %s, received %s)", best.Pod, best.ReplayLSN, best.ReceivedLSN))
}

// lagGuard: the target's replay may be behind the primary's write position
// by at most the request's limit. An unreadable position blocks: a guard
// that cannot see the lag does not pass it.
func lagGuard(req Switchover, st *switchoverState, target string) scaling.GuardResult {
	limit := req.MaxLagBytes
	if limit == 0 {
		limit = DefaultMaxLagBytes
	}
	primary := st.status[st.cluster.Status.CurrentPrimary]
	replica := st.status[target]
	if primary == nil || replica == nil {
		var why []string
		for _, name := range []string{st.cluster.Status.CurrentPrimary, target} {
			if err := st.unread[name]; err != nil {
				why = append(why, err.Error())
			}
		}
		if len(why) == 0 {
			why = append(why, "no status was read")
		}
		slices.Sort(why)
		return block(GuardLag, &LagError{Target: target, MaxLagBytes: limit, Unreadable: joinNames(why)},
			"make the instance managers' status readable (pods/proxy) and plan again")
	}
	lag := replica.ReplayLSN.Behind(primary.CurrentLSN)
	if lag > limit {
		return block(GuardLag, &LagError{Target: target, LagBytes: lag, MaxLagBytes: limit, Primary: primary.CurrentLSN.String(), Replay: replica.ReplayLSN.String()},
			"wait for the replica to catch up (is its replay paused?), pick another, or raise MaxLagBytes")
	}
	return pass(GuardLag, fmt.Sprintf("%s replays %d bytes behind the primary (limit %d)", target, lag, limit))
}

// podReady: Ready and not terminating, as the operator's IsPodActive
// also requires.
func podReady(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && pods.Ready(p) }

func pass(name, reason string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Pass, Reason: reason}
}

func warn(name, reason, remedy string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Warn, Reason: reason, Remedy: remedy}
}

func block(name string, cause error, remedy string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Block, Reason: cause.Error(), Remedy: remedy, Cause: cause}
}
