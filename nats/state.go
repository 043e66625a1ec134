package nats

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/values"
)

// inspectWindow bounds how long one reading waits for servers that do not
// answer; a healthy cluster's reading returns as soon as all have.
const inspectWindow = 750 * time.Millisecond

// liveState is what a NATS plan depends on: the release's values, the
// servers' StatefulSet and the JetStream report.
type liveState struct {
	release *scaling.Release
	// computed are the release's values as the templates see them, the
	// subcharts' defaults included (read through the chart source).
	computed map[string]any
	// clustering and configured are the release's cluster.enabled and
	// cluster.replicas (chart defaults included).
	clustering bool
	configured int
	sts        *appsv1.StatefulSet
	// orphaned: the StatefulSet object is missing and sts is the one the
	// release's manifest renders (an ExpandStorage stopped between its
	// orphan delete and the upgrade that recreates it).
	orphaned bool
	report   *Report
}

// readState reads the release, the StatefulSet and the cluster. A missing
// StatefulSet is a *scaling.NotFoundError unless orphanedOK, when the
// release's manifest stands in for it.
func (c *Client) readState(ctx context.Context, t target, orphanedOK bool) (*liveState, error) {
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		return nil, err
	}
	vals, err := helmplan.Current(ctx, c.releases, rel, t.Chart)
	if err != nil {
		return nil, err
	}
	st := &liveState{release: rel, computed: vals}
	st.clustering = values.Bool(vals, t.path("enabled"))
	st.configured = 3 // the official chart's default
	if n, ok := values.Int(vals, t.path("replicas")); ok {
		st.configured = int(n)
	}
	st.sts, err = c.kube.AppsV1().StatefulSets(t.Namespace).Get(ctx, t.StatefulSet, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && orphanedOK:
		if st.sts, err = renderedStatefulSet(rel, t); err != nil {
			return nil, err
		}
		st.orphaned = true
	case apierrors.IsNotFound(err):
		return nil, &scaling.NotFoundError{Object: t.stsRef(), Detail: "the NATS servers' StatefulSet (set StatefulSet when the chart names it differently)"}
	case err != nil:
		return nil, err
	}
	st.report, err = Inspect(ctx, c.sys, inspectWindow)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// target names the release, its value paths and the StatefulSet.
type target struct {
	Namespace   string `json:"namespace"`
	Release     string `json:"release"`
	Prefix      string `json:"prefix"`
	StatefulSet string `json:"statefulSet"`
	// Chart is the chart source of every upgrade, with the digest of the
	// content the plan was made from.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

// path is the value path of a cluster setting, e.g. nats.config.cluster.replicas.
func (t target) path(key string) string { return t.value("config.cluster." + key) }

// value is the value path of a chart setting under the prefix.
func (t target) value(sub string) string {
	if t.Prefix != "" {
		return t.Prefix + "." + sub
	}
	return sub
}

func (t target) stsRef() scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "StatefulSet", Namespace: t.Namespace, Name: t.StatefulSet}
}

func (t target) server(ordinal int) string { return fmt.Sprintf("%s-%d", t.StatefulSet, ordinal) }

func (t target) serverRef(ordinal int) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "NATSServer", Name: t.server(ordinal)}
}

// size is the number of servers the cluster has now: the meta group's size
// when there is one, else the servers that answered.
func (st *liveState) size() int {
	if st.report.Meta.Size > 0 {
		return st.report.Meta.Size
	}
	return len(st.report.Servers)
}

// fingerprint keys of the NATS side.
const (
	fpMetaPeers   = "NATS meta group peers"
	fpOverTarget  = "NATS streams above the target"
	fpOnlyLeaving = "NATS streams only on leaving servers"
)

func (st *liveState) fingerprint(t target, over, onlyLeaving []StreamRef) scaling.Fingerprint {
	peers := make([]string, 0, len(st.report.Meta.Peers))
	for _, p := range st.report.Meta.Peers {
		peers = append(peers, p.Name)
	}
	slices.Sort(peers)
	return scaling.Fingerprint{
		helmplan.FingerprintKey(t.Namespace, t.Release): helmplan.Revision(st.release.Revision),
		t.stsRef().String() + " generation":             stsGeneration(st),
		fpMetaPeers:                                     strings.Join(peers, ","),
		fpOverTarget:                                    names(over),
		fpOnlyLeaving:                                   names(onlyLeaving),
	}
}

func names(ss []StreamRef) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Account + "/" + s.Name
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// renderedStatefulSet is the StatefulSet of the release's deployed manifest.
func renderedStatefulSet(rel *scaling.Release, t target) (*appsv1.StatefulSet, error) {
	objs, err := manifest.Parse(rel.Manifest, t.Namespace)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.Obj.GetKind() == "StatefulSet" && o.Obj.GetName() == t.StatefulSet {
			sts := &appsv1.StatefulSet{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, sts); err != nil {
				return nil, fmt.Errorf("nats: the StatefulSet in release %s/%s: %w", t.Namespace, t.Release, err)
			}
			return sts, nil
		}
	}
	return nil, &scaling.NotFoundError{Object: t.stsRef(), Detail: "neither in the cluster nor in the release's manifest"}
}

func stsGeneration(st *liveState) string {
	if st.orphaned {
		return "missing"
	}
	return strconv.FormatInt(st.sts.Generation, 10)
}
