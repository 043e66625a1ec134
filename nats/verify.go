package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/verify"
)

// QuorumLostError is why a Verify failed: the meta group has no leader and
// fewer servers answer than its quorum needs, which no waiting repairs.
type QuorumLostError struct {
	Size, QuorumNeeded, Answering int
	Answered                      []string
}

func (e *QuorumLostError) Error() string {
	return fmt.Sprintf("the JetStream meta group lost its quorum: no leader, %d of %d servers answer (%s), %d needed; restart the missing servers, JetStream is unavailable until then",
		e.Answering, e.Size, strings.Join(e.Answered, ","), e.QuorumNeeded)
}

// verifyScaleCluster watches until the meta group counts the target, every
// peer is current, every stream is led with current replicas and fits, and
// the StatefulSet runs the target.
func (c *Client) verifyScaleCluster(ctx context.Context, plan *scaling.Plan, spec *scaleClusterSpec) (*scaling.Verification, error) {
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	n, t := spec.Request.Replicas, spec.Target
	stores, changed, stop, err := c.watchCluster(ctx, t)
	if err != nil {
		return nil, err
	}
	defer stop()
	clustered := !spec.Request.DisableClustering
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	answered := false
	err = await.Signalled(ctx, changed, func() (bool, error) {
		r, err := Inspect(ctx, c.sys, inspectWindow)
		if err != nil {
			// No responders before any answer means missing credentials;
			// after one, a server restarting.
			var sa *SystemAccountError
			if !answered && errors.As(err, &sa) && errors.Is(sa.Err, natsgo.ErrNoResponders) {
				return false, err
			}
			v.Checks = []scaling.Check{{Name: "reading", Expected: "servers answer", Observed: err.Error(), ObservedAt: time.Now()}}
			return false, nil
		}
		answered = true
		stsReady, _ := statefulSetState(stores[0])
		v.Checks = clusterChecks(r, n, clustered, stsReady)
		if clustered {
			v.Checks = append(v.Checks, routesCheck(ctx, c.sys, n, time.Now()))
		}
		emitter.Emit(v.Checks)
		quorum := r.Meta.QuorumNeeded
		if quorum == 0 {
			quorum = r.Meta.Size/2 + 1
		}
		if clustered && r.Meta.Leader == "" && r.Meta.Size > 0 && len(r.Servers) < quorum {
			lost := &QuorumLostError{Size: r.Meta.Size, QuorumNeeded: quorum, Answering: len(r.Servers)}
			for _, s := range r.Servers {
				lost.Answered = append(lost.Answered, s.Name)
			}
			return false, lost
		}
		return verify.Passed(v.Checks), nil
	})
	if sa := (*SystemAccountError)(nil); errors.As(err, &sa) {
		return nil, err
	}
	return verify.Conclude(ctx, v, err, "", fmt.Sprintf("the cluster did not settle at %d servers before the deadline", n)), nil
}

// clusterChecks judges one reading against a target of n servers, clustered
// or (after DisableClustering) a single server without a meta group.
func clusterChecks(r *Report, n int, clustered bool, sts string) []scaling.Check {
	now := time.Now()
	check := func(name, expected, observed string, passed bool, detail string) scaling.Check {
		return scaling.Check{Name: name, Passed: passed, Expected: expected, Observed: observed, Detail: detail, ObservedAt: now}
	}
	var offline, lagging []string
	for _, p := range r.Meta.Peers {
		if p.Offline {
			offline = append(offline, p.Name)
		} else if !p.Current {
			lagging = append(lagging, p.Name)
		}
	}
	var leaderless, behind, over []string
	for _, s := range r.Streams {
		id := s.Account + "/" + s.Name
		if s.Leader == "" {
			leaderless = append(leaderless, id)
		}
		switch {
		case len(s.Lagging) > 0:
			behind = append(behind, id+" ("+strings.Join(s.Lagging, ",")+")")
		case len(s.Peers) < s.Replicas:
			// After a peer-remove the meta leader re-places the replica a
			// moment later; until then the stream runs short.
			behind = append(behind, fmt.Sprintf("%s (%d of %d replicas placed)", id, len(s.Peers), s.Replicas))
		}
		if s.Replicas > n {
			over = append(over, fmt.Sprintf("%s R%d", id, s.Replicas))
		}
	}
	peerDetail := ""
	if len(offline)+len(lagging) > 0 {
		peerDetail = fmt.Sprintf("offline: %s; lagging: %s", orDash(strings.Join(offline, ",")), orDash(strings.Join(lagging, ",")))
	}
	want := fmt.Sprintf("%d replicas, %d ready", n, n)
	streams := []scaling.Check{
		check("servers-answering", fmt.Sprint(n), fmt.Sprint(len(r.Servers)), len(r.Servers) == n, ""),
		check("statefulset", want, sts, sts == want, ""),
		check("streams-led", "every stream has a leader and current replicas", fmt.Sprintf("%d of %d", len(r.Streams)-len(leaderless)-len(behind), len(r.Streams)),
			len(leaderless)+len(behind) == 0, leaderlessDetail(leaderless, behind)),
		check("streams-fit", fmt.Sprintf("no stream above R%d", n), fmt.Sprint(len(over))+" above", len(over) == 0, strings.Join(over, ",")),
	}
	if !clustered {
		mode := "off"
		if r.Meta.Size > 0 {
			mode = fmt.Sprintf("a meta group of %d", r.Meta.Size)
		}
		return append([]scaling.Check{check("clustering", "off", mode, r.Meta.Size == 0, "")}, streams...)
	}
	return append([]scaling.Check{
		check("meta-leader", "a leader", orDash(r.Meta.Leader), r.Meta.Leader != "", ""),
		check("meta-size", fmt.Sprint(n), fmt.Sprint(r.Meta.Size), r.Meta.Size == n, ""),
		check("peers-current", fmt.Sprintf("%d current", n), fmt.Sprintf("%d current", len(r.Meta.Peers)-len(offline)-len(lagging)),
			len(r.Meta.Peers) == n && len(offline)+len(lagging) == 0, peerDetail),
	}, streams...)
}

func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func leaderlessDetail(leaderless, behind []string) string {
	if len(leaderless)+len(behind) == 0 {
		return ""
	}
	return "no leader: " + orDash(strings.Join(leaderless, ",")) + "; behind: " + orDash(strings.Join(behind, ","))
}

// watchCluster watches the StatefulSet (stores[0]), the extra sources
// (stores[1:]) and the cluster's NATS events; changed delivers on any of
// them. stop ends the watches.
func (c *Client) watchCluster(ctx context.Context, t target, extra ...await.Source) (await.Stores, <-chan struct{}, func(), error) {
	wctx, cancel := context.WithCancel(ctx)
	stsClient := c.kube.AppsV1().StatefulSets(t.Namespace)
	sources := append([]await.Source{await.Typed(c.kube, "statefulset", &appsv1.StatefulSet{}, stsClient.List, stsClient.Watch, await.ByName(t.StatefulSet))}, extra...)
	stores, kube, err := await.Watch(wctx, sources)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	natsChanged, stopNATS, err := c.events()
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return stores, await.Merge(wctx, kube, natsChanged), func() { stopNATS(); cancel() }, nil
}

// statefulSetState summarises the watched StatefulSet for the statefulset
// check: "N replicas, M ready", with the pods not yet updated when a
// rollout is under way.
func statefulSetState(s cache.Store) (string, *appsv1.StatefulSet) {
	for _, o := range await.List[*appsv1.StatefulSet](s) {
		summary := fmt.Sprintf("%d replicas, %d ready", deref(o.Spec.Replicas), o.Status.ReadyReplicas)
		// Succeeded means the rollout is over: the controller has seen the
		// newest spec and every pod runs the update revision (issue 11: a
		// Verify said Succeeded at 4 of 5 pods rolled, and the fifth then
		// restarted under the caller's next request).
		switch {
		case o.Status.ObservedGeneration < o.Generation:
			summary += ", spec not yet observed"
		case o.Status.UpdatedReplicas < deref(o.Spec.Replicas):
			summary += fmt.Sprintf(", %d updated", o.Status.UpdatedReplicas)
		case o.Status.UpdateRevision != "" && o.Status.CurrentRevision != o.Status.UpdateRevision:
			summary += ", rolling to " + o.Status.UpdateRevision
		}
		return summary, o
	}
	return "StatefulSet not found", nil
}
