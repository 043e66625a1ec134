package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
)

// OpScaleCluster is the Operation of ScaleCluster plans.
const OpScaleCluster = "nats.ScaleCluster"

// Step actions of a ScaleCluster plan, in the order they can occur.
const (
	ActionLowerReplicas = "lower-stream-replicas"
	ActionEvacuate      = "evacuate-server"
	// ActionSetReleaseValue upgrades the release with one value changed
	// (Step.Field is its path): the server count here, the volume size in
	// an ExpandStorage plan.
	ActionSetReleaseValue = "set-release-value"
	ActionPeerRemove      = "peer-remove"
	ActionAwaitServers    = "await-servers"
	ActionRaiseReplicas   = "raise-stream-replicas"
	// ActionDisableClustering turns clustering off in the release: the last
	// step of a scale to one server.
	ActionDisableClustering = "disable-clustering"
)

// Guard names of a ScaleCluster plan.
const (
	GuardQuorum    = "quorum"
	GuardHealth    = "cluster-health"
	GuardReplicas  = "stream-replicas"
	GuardData      = "data-on-leaving-servers"
	GuardAccounts  = "account-connections"
	GuardEvenSize  = "even-size"
	GuardClustered = "clustering"
	// GuardConfigRoll: a chart that rolls the servers on every nats.conf
	// change (checksum/config) rolls them on every step of a resize too,
	// since the routes change with the size.
	GuardConfigRoll = "config-roll"
)

// maxStreamReplicas is JetStream's limit on a stream's replicas.
const maxStreamReplicas = 5

// ScaleCluster changes how many servers a NATS JetStream cluster deployed by
// a Helm release runs (`helm upgrade --set nats.config.cluster.replicas=N`),
// without losing the meta group's quorum or a stream's data.
//
// A scale-down removes one server at a time, highest ordinal first (the pod
// a StatefulSet removes first): optionally evacuate it, lower the release's
// replicas by one, wait until the server is gone, peer-remove it and wait for
// the meta group to shrink. Doing it per server keeps a quorum at every step
// (stopping 4 of 7 servers at once would lose it) and means evacuated data
// can only land on servers that stay. Each server therefore costs one
// release revision.
type ScaleCluster struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Replicas is the target number of servers.
	Replicas int `json:"replicas"`
	// ValuePrefix is where the chart's NATS values live; default "nats"
	// (the official chart as a subchart named nats, the runbook's form).
	ValuePrefix string `json:"valuePrefix,omitempty"`
	// Standalone says the release is the official NATS chart itself: its
	// value paths have no prefix. ValuePrefix must then be empty.
	Standalone bool `json:"standalone,omitempty"`
	// StatefulSet is the servers' StatefulSet; default the one the
	// release's manifest has from the NATS subchart at ValuePrefix (so the
	// chart's fullnameOverride and statefulSet.name are followed), or else
	// the one labelled app.kubernetes.io/name=nats.
	StatefulSet string `json:"statefulSet,omitempty"`
	// LowerStreamReplicas lets the plan lower streams whose replicas exceed
	// the target to the target, before any server leaves.
	LowerStreamReplicas bool `json:"lowerStreamReplicas,omitempty"`
	// Evacuate lets the plan move every stream and consumer replica off each
	// leaving server before it leaves (nats-server 2.15+). Without it, a
	// stream whose data lives only on leaving servers blocks the plan.
	Evacuate bool `json:"evacuate,omitempty"`
	// DisableClustering reaches one server the only safe way: every stream
	// is lowered to one replica and moved to "<sts>-0" (so
	// LowerStreamReplicas and Evacuate are usually needed too), the cluster
	// is scaled down to two servers, and clustering is then turned off, which
	// stops "<sts>-1" and restarts "<sts>-0" on its store without a cluster.
	// A clustered meta group of one would instead lose its quorum the moment
	// the second server stops. Requires Replicas == 1.
	DisableClustering bool `json:"disableClustering,omitempty"`
	// RaiseStreamReplicas, when set, raises every stream with fewer replicas
	// to this many once the cluster has its new size (at most Replicas and
	// 5).
	RaiseStreamReplicas int `json:"raiseStreamReplicas,omitempty"`
	// Chart is the chart source of the upgrades; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r *ScaleCluster) validate() error {
	bad := func(field string, v any, reason string) error {
		return &scaling.InvalidInputError{Field: "ScaleCluster." + field, Value: v, Reason: reason}
	}
	if err := validateRelease("ScaleCluster", r.Namespace, r.Release, r.ValuePrefix, r.Standalone); err != nil {
		return err
	}
	switch {
	case r.Replicas < 1:
		return bad("Replicas", r.Replicas, "a cluster needs at least one server")
	case r.DisableClustering && r.Replicas != 1:
		return bad("DisableClustering", r.Replicas, "turning clustering off leaves exactly one server: set Replicas to 1")
	case r.RaiseStreamReplicas < 0 || r.RaiseStreamReplicas > min(r.Replicas, maxStreamReplicas):
		return bad("RaiseStreamReplicas", r.RaiseStreamReplicas, fmt.Sprintf("must be between 0 and min(Replicas, %d) = %d", maxStreamReplicas, min(r.Replicas, maxStreamReplicas)))
	}
	return nil
}

func (r *ScaleCluster) target() target {
	return newTarget(r.Namespace, r.Release, r.ValuePrefix, r.Standalone, r.StatefulSet)
}

// newTarget applies the defaults of the fields every NATS request shares.
func newTarget(namespace, release, prefix string, standalone bool, sts string) target {
	t := target{Namespace: namespace, Release: release, Prefix: prefix, StatefulSet: sts}
	if !standalone && t.Prefix == "" {
		t.Prefix = "nats"
	}
	return t
}

// scaleClusterSpec is the plan's Spec: everything Apply and Verify need.
type scaleClusterSpec struct {
	Request ScaleCluster `json:"request"`
	Target  target       `json:"target"`
	From    int          `json:"from"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// PlanScaleCluster reads the release, the StatefulSet and JetStream (one
// system-account reading) and plans the change. It returns a plan even when
// guards block it, so the reasons can be shown; Apply refuses such a plan.
// Invalid input is a *scaling.InvalidInputError before anything is read;
// missing system-account access is a *SystemAccountError.
func (c *Client) PlanScaleCluster(ctx context.Context, req ScaleCluster) (*scaling.Plan, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	t := req.target()
	var err error
	if t.Chart, err = req.Chart.For("ScaleCluster.Chart", c.opts.Chart); err != nil {
		return nil, err
	}
	st, err := c.readState(ctx, &t, false)
	if err != nil {
		return nil, err
	}
	d := c.decide(req, t, st)
	var diff string
	if len(d.steps) > 0 {
		sets := []helmplan.Set{{Path: t.path("replicas"), Value: req.Replicas}}
		if req.DisableClustering {
			sets = append(sets, helmplan.Set{Path: t.path("enabled"), Value: false})
		}
		res, err := helmplan.PlanFrom(ctx, c.releases, st.release, t.Chart, sets, c.red)
		if err != nil {
			return nil, err
		}
		// Turning clustering off drops what only a cluster has (its
		// disruption budget); a count change deletes nothing.
		blast, _ := helmplan.BlastRadius(res, func(dm helmplan.Damage) bool {
			return req.DisableClustering && dm.Action == "delete" && dm.Object.Kind == "PodDisruptionBudget"
		})
		d.guards = append(d.guards, blast)
		t.Chart, diff = res.Chart, res.Diff+streamDiff(d.steps)
	}
	causes, err := opkit.CausesOf(d.guards)
	if err != nil {
		return nil, err
	}
	req.Chart = t.Chart // pinned: Apply plans again from this request
	spec := scaleClusterSpec{Request: req, Target: t, From: st.size(), Causes: causes}
	raw, err := planspec.Encode(spec)
	if err != nil {
		return nil, err
	}
	plan := &scaling.Plan{
		Version:     scaling.PlanVersion,
		Operation:   OpScaleCluster,
		Target:      t.stsRef(),
		Summary:     fmt.Sprintf("NATS cluster %s: %d -> %d servers", t.StatefulSet, st.size(), req.Replicas),
		Steps:       d.steps,
		Guards:      d.guards,
		NoOp:        len(d.steps) == 0,
		Fingerprint: st.fingerprint(t, d.over, d.onlyLeaving),
		Spec:        raw,
		CreatedAt:   time.Now().UTC(),
		Diff:        diff,
	}
	return plan, nil
}

func streamStep(action string, s StreamReport, to int) scaling.Step {
	return scaling.Step{Action: action, Object: scaling.ObjectRef{Kind: "Stream", Namespace: s.Account, Name: s.Name},
		Field: "num_replicas", Before: strconv.Itoa(s.Replicas), After: strconv.Itoa(to)}
}

func streamDiff(steps []scaling.Step) string {
	var b strings.Builder
	for _, s := range steps {
		if s.Object.Kind == "Stream" {
			fmt.Fprintf(&b, "~ stream %s/%s num_replicas: %s -> %s\n", s.Object.Namespace, s.Object.Name, s.Before, s.After)
		}
	}
	return b.String()
}

func anyOn(streams []StreamReport, servers map[string]bool) bool {
	for _, s := range streams {
		for _, p := range s.Peers {
			if servers[p] {
				return true
			}
		}
	}
	return false
}

// atLeast reports whether a server version ("2.15.2", "2.10.24-alpine")
// is at least major.minor.
func atLeast(version string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// deriveScaleCluster plans a stored ScaleCluster plan again from its
// request, with the chart it pinned.
func (c *Client) deriveScaleCluster(ctx context.Context, spec *scaleClusterSpec) (*scaling.Plan, *scaleClusterSpec, error) {
	req := spec.Request
	req.Chart = spec.Target.Chart
	return opkit.Decoded[scaleClusterSpec](c.PlanScaleCluster(ctx, req))
}

// applyScaleCluster runs a derived plan's steps in order. Each step checks
// live state first, so a plan interrupted halfway and planned again resumes
// where it stopped; before each step after the first, the guards are
// evaluated again on what the earlier steps left.
func (c *Client) applyScaleCluster(ctx context.Context, plan *scaling.Plan, spec *scaleClusterSpec) (*scaling.Applied, error) {
	t := spec.Target
	return c.applySteps(ctx, plan, func(ctx context.Context) (*scaling.Plan, error) {
		p, _, err := c.deriveScaleCluster(ctx, spec)
		return p, err
	},
		func(ctx context.Context, step scaling.Step, changed <-chan struct{}) (bool, error) {
			return c.runStep(ctx, t, step, changed)
		})
}

// streamsSettled: every stream has a leader and all its replicas placed,
// and none lags but on a server that does not answer (one the plan has
// stopped, whose replica the next peer-remove re-places).
func streamsSettled(r *Report) bool {
	answering := map[string]bool{}
	for _, sv := range r.Servers {
		answering[sv.Name] = true
	}
	for _, s := range r.Streams {
		if s.Leader == "" || len(s.Peers) < s.Replicas {
			return false
		}
		for _, l := range s.Lagging {
			if answering[l] {
				return false
			}
		}
	}
	return true
}

// applySteps runs a derived plan's steps with this client's progress and
// step timeout. Each step gets a channel of NATS events for its waits
// (advisories, server shutdowns, the backstop). Before each step after the
// first, the plan is derived again on what the earlier steps left, until
// no guard blocks it, or Options.SettleTimeout passes and the run stops
// with the guards' refusal.
func (c *Client) applySteps(ctx context.Context, plan *scaling.Plan, derive func(context.Context) (*scaling.Plan, error), step func(context.Context, scaling.Step, <-chan struct{}) (bool, error)) (*scaling.Applied, error) {
	changed, stop, err := c.events()
	if err != nil {
		return nil, err
	}
	defer stop()
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress, StepTimeout: c.opts.StepTimeout, Recheck: func(ctx context.Context) error {
		settle := time.NewTimer(c.opts.SettleTimeout)
		defer settle.Stop()
		// First the streams: a replica the previous step moved (a
		// peer-remove re-places it) must be current before the next server
		// stops, or a stream with a replica there loses its quorum (seen:
		// R3 on -4 and -3, -3 stopped while -4's replacement caught up).
		settled, cancel := context.WithTimeout(ctx, c.opts.SettleTimeout)
		_ = c.waitReport(settled, changed, "the streams to settle", streamsSettled) // unsettled: the guards say why
		cancel()
		for {
			p, err := derive(ctx)
			if err != nil {
				return err
			}
			refusal := opkit.Blocked(p)
			if refusal == nil {
				return nil
			}
			select {
			case <-changed:
			case <-settle.C:
				return refusal
			case <-ctx.Done():
				return refusal
			}
		}
	}}
	return run.Apply(ctx, func(ctx context.Context, _ int, s scaling.Step) (bool, error) { return step(ctx, s, changed) })
}

// runStep runs one step and waits for its effect. It reports whether it
// changed anything.
func (c *Client) runStep(ctx context.Context, t target, step scaling.Step, changed <-chan struct{}) (bool, error) {
	n, _ := strconv.Atoi(step.After)
	server := step.Object.Name
	switch step.Action {
	case ActionLowerReplicas, ActionRaiseReplicas:
		did, err := c.placeReplicas(ctx, step.Object.Namespace, step.Object.Name, n, changed)
		if err != nil {
			return false, err
		}
		return did, c.waitReport(ctx, changed, "stream "+step.Object.Namespace+"/"+step.Object.Name+" settled at R"+step.After, func(r *Report) bool {
			for _, s := range r.Streams {
				if s.Account == step.Object.Namespace && s.Name == step.Object.Name {
					return s.Leader != "" && len(s.Peers) == n && len(s.Lagging) == 0
				}
			}
			return false
		})
	case ActionEvacuate:
		if err := c.evacuate(ctx, server); err != nil {
			if isAPIError(err, errCodeNotMember) {
				return false, nil // left already
			}
			return false, err
		}
		moved := map[string]bool{}
		err := c.waitReport(ctx, changed, "no replica left on "+server, func(r *Report) bool {
			for _, s := range r.Streams {
				if slices.Contains(s.Peers, server) {
					moved[s.Account+"/"+s.Name] = true
					return false
				}
			}
			return allLed(r)
		})
		if err != nil {
			return true, err
		}
		// The server leaves next: its copies must be complete elsewhere.
		return true, c.waitCopied(ctx, changed, "the streams moved off "+server, func(s StreamReport) []string {
			if moved[s.Account+"/"+s.Name] {
				return s.Peers
			}
			return nil
		})
	case ActionSetReleaseValue:
		return c.setRelease(ctx, t, []helmplan.Set{{Path: step.Field, Value: n}}, n, false)
	case ActionDisableClustering:
		did, err := c.setRelease(ctx, t, []helmplan.Set{{Path: t.path("enabled"), Value: false}, {Path: t.path("replicas"), Value: 1}}, 1, false)
		if err != nil {
			return did, err
		}
		return did, c.waitReport(ctx, changed, "one server without a meta group, every stream led", func(r *Report) bool {
			return len(r.Servers) == 1 && r.Meta.Size == 0 && allLed(r)
		})
	case ActionPeerRemove:
		return c.removePeer(ctx, server, n, changed)
	case ActionAwaitServers:
		return false, c.waitReport(ctx, changed, fmt.Sprintf("%d servers in the meta group, all current", n), func(r *Report) bool {
			return metaSettled(r, n)
		})
	}
	return false, &scaling.InvalidPlanError{Reason: "unknown step action " + step.Action}
}

// placeReplicas sets a stream's replicas. A refusal for want of placement
// (10005, "no suitable peers for placement, peer offline") is retried on
// the next change: servers that just joined count as current in the meta
// group before the meta leader has their first statistics, which placement
// reads, so a raise right after the servers joined can come a moment too
// early (seen under the race detector's slowdown).
func (c *Client) placeReplicas(ctx context.Context, account, stream string, n int, changed <-chan struct{}) (bool, error) {
	did := false
	err := c.waitReportErr(ctx, changed, fmt.Sprintf("stream %s/%s placed at R%d", account, stream, n), func(*Report) (bool, error) {
		d, err := c.setStreamReplicas(ctx, account, stream, n)
		switch {
		case err == nil:
			did = d
			return true, nil
		case isAPIError(err, errCodeNoPlacement):
			return false, nil
		default:
			return false, err
		}
	})
	return did, err
}

// removePeer waits until the server is down (removing a running server
// only makes it rejoin), removes it, and waits for the meta group to count
// size. Down is the meta leader calling it offline, or the server no longer
// answering: with the chart's config reloader the others may drop their
// routes to it before it stops, so its shutdown never reaches them and the
// leader calls it merely "not current" until its stale-server sweep, minutes
// later. A removal refused because another member change is in progress
// (10202), or left unanswered because the meta leadership moved (only the
// leader answers), is retried on the next change; none is sent while the
// group has no leader.
func (c *Client) removePeer(ctx context.Context, server string, size int, changed <-chan struct{}) (bool, error) {
	removed := false
	err := c.waitReportErr(ctx, changed, fmt.Sprintf("%s removed and the meta group at %d", server, size), func(r *Report) (bool, error) {
		peer, member := metaPeer(r, server)
		if !member {
			return r.Meta.Size == size && r.Meta.Leader != "", nil
		}
		answering := slices.ContainsFunc(r.Servers, func(s ServerUsage) bool { return s.Name == server })
		if (!peer.Offline && answering) || removed || r.Meta.Leader == "" {
			// Only the meta leader answers a removal: during an election
			// (the stopped server may have led) nobody would.
			return false, nil
		}
		err := c.peerRemove(ctx, server)
		switch {
		case err == nil:
			removed = true
		case isAPIError(err, errCodeMemberChange), isAPIError(err, errCodeClusterNotActive):
			// try again on the next change
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			// Unanswered: leadership moved between the reading and the
			// request. Ask the next leader; a removal that did take
			// effect is answered "not a member" (10044) then.
		case isAPIError(err, errCodeNotMember):
			removed = true
		default:
			return false, err
		}
		return false, nil
	})
	return removed, err
}

func allLed(r *Report) bool {
	for _, s := range r.Streams {
		if s.Leader == "" || len(s.Lagging) > 0 || len(s.Peers) < s.Replicas {
			return false
		}
	}
	return true
}

// metaPeer finds a server in the meta group by name, or by its peer ID
// once the others no longer know its name.
func metaPeer(r *Report, name string) (Peer, bool) {
	id := PeerID(name)
	for _, p := range r.Meta.Peers {
		if p.Name == name || p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}

// metaSettled: the meta group has a leader and n members, all current, and
// n servers answer.
func metaSettled(r *Report, n int) bool {
	if r.Meta.Leader == "" || r.Meta.Size != n || len(r.Servers) != n || len(r.Meta.Peers) != n {
		return false
	}
	for _, p := range r.Meta.Peers {
		if p.Offline || !p.Current {
			return false
		}
	}
	return true
}

func (c *Client) waitReport(ctx context.Context, changed <-chan struct{}, what string, cond func(*Report) bool) error {
	return c.waitReportErr(ctx, changed, what, func(r *Report) (bool, error) { return cond(r), nil })
}

// waitReportErr re-reads the cluster whenever it may have changed until cond
// holds. A failed reading is not final: the plan's reading proved the
// credentials, and elections or a restarting server make a cluster silent
// (or, right after a reconnect, without responders) for a moment.
func (c *Client) waitReportErr(ctx context.Context, changed <-chan struct{}, what string, cond func(*Report) (bool, error)) error {
	var last *Report
	err := await.Signalled(ctx, changed, func() (bool, error) {
		r, err := Inspect(ctx, c.sys, inspectWindow)
		if err != nil {
			return false, nil
		}
		last = r
		return cond(r)
	})
	if err != nil && ctx.Err() != nil {
		return &WaitError{What: what, Last: last, Err: err}
	}
	return err
}

// healthGuard: a meta leader, no peer offline or silent (but departed
// ones) or lagging, every stream led.
func healthGuard(st *liveState, departed map[string]bool) scaling.GuardResult {
	rep := st.report
	h := &UnhealthyError{Leader: rep.Meta.Leader, Size: rep.Meta.Size, Answering: len(rep.Servers)}
	answering := map[string]bool{}
	for _, sv := range rep.Servers {
		answering[sv.Name] = true
	}
	for _, p := range rep.Meta.Peers {
		switch {
		case departed[p.Name]:
		// A peer that did not answer is down even before the leader has
		// marked it offline (it takes the leader seconds): removing another
		// server then would leave the group without a quorum.
		case p.Offline || (len(rep.Servers) > 0 && !answering[p.Name]):
			h.Offline = append(h.Offline, p.Name)
		case !p.Current:
			h.Lagging = append(h.Lagging, p.Name)
		}
	}
	for _, s := range rep.Streams {
		if s.Leader == "" {
			h.Leaderless = append(h.Leaderless, StreamRef{Account: s.Account, Name: s.Name, Replicas: s.Replicas})
		}
	}
	if st.clustering && (h.Leader == "" || len(h.Offline)+len(h.Lagging)+len(h.Leaderless) > 0) {
		return block(GuardHealth, h, "bring the cluster back to health first (nats.Inspect shows the details)")
	}
	return pass(GuardHealth, fmt.Sprintf("meta leader %s, %d peers current", orDash(rep.Meta.Leader), len(rep.Meta.Peers)))
}

// validateRelease checks the fields every NATS request shares.
func validateRelease(op, namespace, release, prefix string, standalone bool) error {
	bad := func(field string, v any, reason string) error {
		return &scaling.InvalidInputError{Field: op + "." + field, Value: v, Reason: reason}
	}
	switch {
	case namespace == "":
		return bad("Namespace", namespace, "required")
	case release == "":
		return bad("Release", release, "required")
	case standalone && prefix != "":
		return bad("ValuePrefix", prefix, "a standalone chart's values have no prefix")
	case strings.HasPrefix(prefix, ".") || strings.HasSuffix(prefix, "."):
		return bad("ValuePrefix", prefix, `a value path like "nats" or "platform.nats", without leading or trailing dots`)
	}
	return nil
}

// waitCopied waits until the replicas that copies(stream) names hold every
// message their stream's leader held at the first reading. Raft calls a new
// replica current before its messages are in (measured: replacing volumes
// one after another on that signal lost the stream's first 31 acknowledged
// messages), so a step that is about to remove another copy waits for this
// instead.
func (c *Client) waitCopied(ctx context.Context, changed <-chan struct{}, what string, copies func(StreamReport) []string) error {
	var targets map[string]uint64
	return c.waitReport(ctx, changed, what+" holding every message", func(r *Report) bool {
		if targets == nil {
			targets = map[string]uint64{}
			for _, s := range r.Streams {
				if len(copies(s)) > 0 {
					targets[s.Account+"/"+s.Name] = s.LastSeq[s.Leader]
				}
			}
		}
		for _, s := range r.Streams {
			want, ok := targets[s.Account+"/"+s.Name]
			if !ok {
				continue
			}
			for _, p := range copies(s) {
				if s.LastSeq[p] < want {
					return false
				}
			}
		}
		return allLed(r)
	})
}

// rollKeepsQuorum says whether a resize from -> to, when each step also
// restarts every server one at a time, keeps the meta group's quorum
// throughout; when it does not, members is the group size of the first step
// that loses it. A scale-up is one upgrade: the old members roll while the
// new ones join, one of them down at a time. A scale-down step of a group of
// s has the leaving server offline and one more restarting: s-2 must still
// be a majority of s, which holds only from 5 members up.
func rollKeepsQuorum(from, to int) (members int, ok bool) {
	majority := func(s int) int { return s/2 + 1 }
	if to > from {
		return from, from-1 >= majority(from)
	}
	for s := from; s > to; s-- {
		if s-2 < majority(s) {
			return s, false
		}
	}
	return 0, true
}
