package nats

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	natsgo "github.com/nats-io/nats.go"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/quota"
)

// decision is what decide concludes from live state.
type decision struct {
	steps       []scaling.Step
	guards      []scaling.GuardResult
	over        []StreamRef // replicas above the target
	onlyLeaving []StreamRef // every current replica on a leaving server
}

// decide evaluates the guards and orders the steps. It is pure: the same
// request and live state give the same plan, which is also how Apply
// recognises a plan whose target state already holds (no steps left).
func (c *Client) decide(req ScaleCluster, t target, st *liveState) decision {
	v := newScaleView(req, t, st, c.opts.Accounts)
	d := decision{over: v.over, onlyLeaving: v.onlyLeaving}
	d.guards = []scaling.GuardResult{v.quorumGuard(), healthGuard(st, v.departed), v.replicasGuard()}
	d.guards = appendApplicable(d.guards, v.accountsGuard)
	d.guards = append(d.guards, v.dataGuard())
	d.guards = appendApplicable(d.guards, v.configRollGuard, v.evenSizeGuard, v.capacityGuard)
	d.steps = v.steps()
	return d
}

// appendApplicable appends the results of the guards that apply.
func appendApplicable(gs []scaling.GuardResult, guards ...func() (scaling.GuardResult, bool)) []scaling.GuardResult {
	for _, guard := range guards {
		if g, ok := guard(); ok {
			gs = append(gs, g)
		}
	}
	return gs
}

// scaleView is what a ScaleCluster derives from its request and live state,
// once, before any guard: every guard and the steps read it and nothing
// else.
type scaleView struct {
	req      ScaleCluster
	t        target
	st       *liveState
	from, to int
	// departed are leaving servers whose pods the StatefulSet no longer
	// runs, still counted by the meta group.
	departed map[string]bool
	// leaving are the servers at or above the target, highest first.
	leaving    []string
	leavingSet map[string]bool
	// over want more replicas than the target; onlyLeaving have every
	// current replica on a leaving server.
	over, onlyLeaving []StreamRef
	lower, raise      []scaling.Step
	// needAccounts are streams a step must update from their own account,
	// which Options.Accounts lacks.
	needAccounts []StreamRef
	// tooOld are servers that cannot evacuate (before nats-server 2.15).
	tooOld    []string
	disabling bool
	evacuate  bool
}

func newScaleView(req ScaleCluster, t target, st *liveState, accounts map[string]*natsgo.Conn) scaleView {
	v := scaleView{req: req, t: t, st: st, from: st.size(), to: req.Replicas, departed: map[string]bool{}, leavingSet: map[string]bool{}}
	// Departed servers: a scale-down done by hand without peer-remove
	// (nats-server #6403), or one of ours interrupted; they are expected
	// offline, and the plan finishes them.
	running := v.from
	if st.sts != nil && st.sts.Spec.Replicas != nil {
		running = int(*st.sts.Spec.Replicas)
	}
	for i := max(running, v.to); i < v.from; i++ {
		v.departed[t.server(i)] = true
	}
	for i := v.from - 1; i >= v.to; i-- {
		v.leaving = append(v.leaving, t.server(i))
		v.leavingSet[t.server(i)] = true
	}
	for _, s := range st.report.Streams {
		v.classify(s, accounts)
	}
	for _, s := range st.report.Servers {
		if !atLeast(s.Version, 2, 15) {
			v.tooOld = append(v.tooOld, s.Name+" runs "+s.Version)
		}
	}
	v.disabling = st.clustering && v.to == 1 && req.DisableClustering
	if v.disabling && req.LowerStreamReplicas {
		// Lowering keeps a replica of the server's choosing: it may be on a
		// leaving server, so these streams count as data that must move.
		for _, s := range v.over {
			if !slices.ContainsFunc(v.onlyLeaving, func(o StreamRef) bool { return o.Account == s.Account && o.Name == s.Name }) {
				v.onlyLeaving = append(v.onlyLeaving, s)
			}
		}
	}
	v.evacuate = req.Evacuate && len(v.leaving) > 0 && len(v.tooOld) == 0 && (anyOn(st.report.Streams, v.leavingSet) || len(v.onlyLeaving) > 0)
	return v
}

// classify files one stream: above the target, to raise, only on leaving
// servers, needing its account's connection.
func (v *scaleView) classify(s StreamReport, accounts map[string]*natsgo.Conn) {
	ref := StreamRef{Account: s.Account, Name: s.Name, Replicas: s.Replicas, Peers: s.Peers}
	if s.Replicas > v.to {
		v.over = append(v.over, ref)
		v.lower = append(v.lower, streamStep(ActionLowerReplicas, s, v.to))
	} else if v.req.RaiseStreamReplicas > s.Replicas {
		v.raise = append(v.raise, streamStep(ActionRaiseReplicas, s, v.req.RaiseStreamReplicas))
	}
	current, onLeaving := 0, 0
	for _, p := range s.Peers {
		if slices.Contains(s.Lagging, p) {
			continue
		}
		current++
		if v.leavingSet[p] {
			onLeaving++
		}
	}
	if len(v.leaving) > 0 && current > 0 && onLeaving == current {
		v.onlyLeaving = append(v.onlyLeaving, ref)
	}
	if (s.Replicas > v.to && v.req.LowerStreamReplicas) || v.req.RaiseStreamReplicas > s.Replicas {
		if accounts[s.Account] == nil {
			v.needAccounts = append(v.needAccounts, ref)
		}
	}
}

// pass and block build guard results; a blocking one carries its typed
// cause, which the plan's spec keeps, and says what it says.
func pass(name, reason string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Pass, Reason: reason}
}

func warn(name, reason, remedy string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Warn, Reason: reason, Remedy: remedy}
}

func block(name string, cause error, remedy string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Block, Reason: strings.TrimPrefix(cause.Error(), "nats: "), Remedy: remedy, Cause: cause}
}

// quorumGuard: a clustered meta group of one is the runbook's "never below
// 2" trap; the target must keep two servers.
func (v scaleView) quorumGuard() scaling.GuardResult {
	st, t, from, to := v.st, v.t, v.from, v.to
	switch {
	case !st.clustering && to > 1:
		return scaling.GuardResult{Name: GuardClustered, Outcome: scaling.Block,
			Reason: fmt.Sprintf("clustering is off in the release (%s=false): %d servers would not form a cluster", t.path("enabled"), to),
			Remedy: "enable clustering in the release first; assets created on a single server do not survive the change unharmed (nats-server #6838)"}
	case st.clustering && to < 2 && v.req.DisableClustering:
		return pass(GuardQuorum, fmt.Sprintf("clustering will be turned off once two servers are left and every stream lives as R1 on %s", t.server(0)))
	case st.clustering && to < 2:
		e := &QuorumError{Current: from, Target: to}
		g := block(GuardQuorum, e, "keep at least 2 servers, or set DisableClustering (with LowerStreamReplicas and Evacuate when streams have replicas or live elsewhere than "+t.server(0)+")")
		g.Reason = fmt.Sprintf("clustering is on and the target is %d server: a clustered meta group needs at least 2", to)
		return g
	}
	how := ""
	if to < from {
		how = ", removed one at a time"
	}
	return pass(GuardQuorum, fmt.Sprintf("the meta group keeps a quorum: %d -> %d servers%s", from, to, how))
}

func (v scaleView) replicasGuard() scaling.GuardResult {
	switch {
	case len(v.over) == 0:
		return pass(GuardReplicas, fmt.Sprintf("no stream wants more than %d replicas", v.to))
	case v.req.LowerStreamReplicas:
		return pass(GuardReplicas, fmt.Sprintf("%d stream(s) will be lowered to R%d first: %s", len(v.over), v.to, streamList(v.over)))
	}
	return block(GuardReplicas, &StreamReplicasError{Target: v.to, Streams: v.over}, "set LowerStreamReplicas to lower them first, or keep more servers")
}

func (v scaleView) accountsGuard() (scaling.GuardResult, bool) {
	if len(v.needAccounts) == 0 {
		return scaling.GuardResult{}, false
	}
	var accs []string
	for _, s := range v.needAccounts {
		if !slices.Contains(accs, s.Account) {
			accs = append(accs, s.Account)
		}
	}
	return block(GuardAccounts, &AccountConnectionError{Accounts: accs, Streams: v.needAccounts},
		"add a connection for each account to Options.Accounts: the system account cannot update another account's streams"), true
}

// dataGuard: data that would leave with the servers.
func (v scaleView) dataGuard() scaling.GuardResult {
	switch {
	case len(v.onlyLeaving) == 0:
		return pass(GuardData, "every stream keeps a current replica on a server that stays")
	case v.evacuate:
		return pass(GuardData, fmt.Sprintf("%d stream(s) live only on leaving servers and will be evacuated first: %s", len(v.onlyLeaving), streamList(v.onlyLeaving)))
	}
	e := &DataOnLeavingServersError{Leaving: v.leaving, Streams: v.onlyLeaving}
	remedy := "set Evacuate to move them to servers that stay first"
	if v.req.Evacuate {
		e.Unsupported = v.tooOld
		remedy = "upgrade every server to nats-server 2.15 or newer, or raise the streams' replicas so a copy lives on a server that stays"
	}
	return block(GuardData, e, remedy)
}

// configRollGuard: a chart that rolls the servers on every nats.conf change
// restarts them at each resize step, which must keep a quorum.
func (v scaleView) configRollGuard() (scaling.GuardResult, bool) {
	if !rollsOnConfig(v.st.sts) || v.to == v.from {
		return scaling.GuardResult{}, false
	}
	const remedy = "enable the chart's config reloader (reloader.enabled=true, podTemplate.configChecksumAnnotation=false, the official chart's defaults)"
	if members, ok := rollKeepsQuorum(v.from, v.to); !ok {
		return block(GuardConfigRoll, &ConfigRollError{From: v.from, To: v.to, Members: members}, remedy+", then plan again"), true
	}
	return warn(GuardConfigRoll, "the chart rolls every server on each nats.conf change (checksum/config), so each resize step restarts the servers one at a time; the meta group keeps a quorum through it",
		remedy+" so a new size reaches the servers by reload"), true
}

func (v scaleView) evenSizeGuard() (scaling.GuardResult, bool) {
	to := v.to
	if to%2 != 0 || to <= 1 {
		return scaling.GuardResult{}, false
	}
	return warn(GuardEvenSize, fmt.Sprintf("%d servers tolerate as many failures as %d (quorum %d)", to, to-1, to/2+1),
		"an odd size gives the same fault tolerance with one server less, or one more failure tolerated with one more"), true
}

// capacityGuard applies to a scale-up: the schedulable nodes must be able
// to hold the servers' pods (a cluster of 1,000 servers is planned, then
// fails in Apply on a deadline, otherwise).
func (v scaleView) capacityGuard() (scaling.GuardResult, bool) {
	if v.to <= v.from || v.st.sts == nil {
		return scaling.GuardResult{}, false
	}
	return quota.Guard(int32(min(v.to, 1<<31-1)), quota.PodRequests(v.st.sts.Spec.Template.Spec), v.st.capacity, v.st.nodesErr), true
}

// steps orders the plan: lower stream replicas, then each leaving server
// from the highest (evacuate, stop, peer-remove), then the new count or
// clustering off, then wait for new servers, then raise stream replicas.
func (v scaleView) steps() []scaling.Step {
	t, from, to := v.t, v.from, v.to
	var steps []scaling.Step
	if v.req.LowerStreamReplicas {
		steps = append(steps, v.lower...)
	}
	rel := helmplan.Ref(t.Namespace, t.Release)
	last := to // the lowest ordinal that leaves through a peer-remove
	if v.disabling {
		last = 2
	}
	for i := from - 1; i >= last; i-- {
		steps = append(steps, v.leave(i, rel)...)
	}
	if v.disabling {
		if v.evacuate {
			steps = append(steps, scaling.Step{Action: ActionEvacuate, Object: t.serverRef(1),
				Note: "move its replicas to " + t.server(0) + ", the only other server"})
		}
		steps = append(steps, scaling.Step{Action: ActionDisableClustering, Object: rel, Field: t.path("enabled"), Before: "true", After: "false",
			Note: fmt.Sprintf("and %s=1: %s stops, %s restarts without a cluster and serves its store", t.path("replicas"), t.server(1), t.server(0))})
	} else if to > from || (to == from && v.st.configured != to) {
		steps = append(steps,
			scaling.Step{Action: ActionSetReleaseValue, Object: rel, Field: t.path("replicas"), Before: strconv.Itoa(v.st.configured), After: strconv.Itoa(to)})
	}
	if to > from {
		steps = append(steps, scaling.Step{Action: ActionAwaitServers, Object: t.stsRef(), Before: strconv.Itoa(from), After: strconv.Itoa(to),
			Note: "wait until the new servers have joined the meta group and are current"})
	}
	return append(steps, v.raise...)
}

// leave is how server i leaves: a departed one only needs its peer-remove.
func (v scaleView) leave(i int, rel scaling.ObjectRef) []scaling.Step {
	t := v.t
	if v.departed[t.server(i)] {
		return []scaling.Step{{Action: ActionPeerRemove, Object: t.serverRef(i), After: strconv.Itoa(i),
			Note: fmt.Sprintf("its pod is gone already; then wait for the meta group to count %d", i)}}
	}
	var steps []scaling.Step
	if v.evacuate {
		steps = append(steps, scaling.Step{Action: ActionEvacuate, Object: t.serverRef(i),
			Note: "move its stream and consumer replicas to other servers; the servers above it have left already"})
	}
	return append(steps,
		scaling.Step{Action: ActionSetReleaseValue, Object: rel, Field: t.path("replicas"), Before: strconv.Itoa(i + 1), After: strconv.Itoa(i),
			Note: fmt.Sprintf("the StatefulSet stops pod %s; wait until its server is gone", t.pod(i))},
		scaling.Step{Action: ActionPeerRemove, Object: t.serverRef(i), After: strconv.Itoa(i),
			Note: fmt.Sprintf("once the meta group sees it offline; then wait for the meta group to count %d", i)})
}
