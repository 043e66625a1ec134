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
	"github.com/ironflow/scaling/internal/quota"
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
	// capacity is the schedulable nodes' (nodesErr says why it could not
	// be read: listing nodes is cluster-scoped).
	capacity quota.Capacity
	nodesErr error
}

// readState reads the release, the StatefulSet and the cluster. A missing
// StatefulSet is a *scaling.NotFoundError unless orphanedOK, when the
// release's manifest stands in for it. It completes t from what it read: the
// StatefulSet's name from the release's manifest when the request named
// none, and the servers' name prefix from the names they report.
func (c *Client) readState(ctx context.Context, t *target, orphanedOK bool) (*liveState, error) {
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		return nil, err
	}
	if t.StatefulSet == "" {
		if t.StatefulSet, err = natsStatefulSet(rel, *t); err != nil {
			return nil, err
		}
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
		if st.sts, err = renderedStatefulSet(rel, *t); err != nil {
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
	if prefix, ok, err := serverPrefix(st.report, *t); err != nil {
		return nil, err
	} else if ok {
		t.ServerPrefix = prefix
	}
	// Every ordinal the cluster may still count, the departed included.
	n := max(st.report.Meta.Size, len(st.report.Meta.Peers), len(st.report.Servers), int(deref(st.sts.Spec.Replicas)), st.configured)
	candidates := make([]string, 0, n+1)
	for i := range n + 1 {
		candidates = append(candidates, t.server(i))
	}
	st.report.resolveNames(candidates)
	if nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		st.nodesErr = err
	} else {
		st.capacity = quota.NodeCapacity(nodes.Items)
	}
	return st, nil
}

// natsStatefulSet finds the servers' StatefulSet in the release's manifest:
// the one the NATS subchart at the value prefix renders (whatever its
// fullnameOverride or statefulSet.name made of it), or for a chart that
// renders NATS itself, the one labelled app.kubernetes.io/name=nats.
func natsStatefulSet(rel *scaling.Release, t target) (string, error) {
	objs, err := manifest.Parse(rel.Manifest, t.Namespace)
	if err != nil {
		return "", err
	}
	var bySource, byLabel []string
	for _, o := range manifest.Sorted(objs) {
		if o.Obj.GetKind() != "StatefulSet" {
			continue
		}
		if o.InSubchart(t.Prefix) {
			bySource = append(bySource, o.Obj.GetName())
		}
		if o.Obj.GetLabels()["app.kubernetes.io/name"] == "nats" {
			byLabel = append(byLabel, o.Obj.GetName())
		}
	}
	for _, found := range [][]string{bySource, byLabel} {
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		default:
			return "", &scaling.InvalidInputError{Field: "StatefulSet", Value: `""`,
				Reason: fmt.Sprintf("release %s/%s renders several NATS StatefulSets (%s): name the servers' one", t.Namespace, t.Release, strings.Join(found, ", "))}
		}
	}
	return "", &scaling.NotFoundError{Object: helmplan.Ref(t.Namespace, t.Release),
		Detail: fmt.Sprintf("its manifest has no StatefulSet of a NATS subchart at %q nor one labelled app.kubernetes.io/name=nats (set StatefulSet)", t.Prefix)}
}

// serverPrefix learns what the servers' names add in front of their pods'
// (the official chart's config.serverNamePrefix): a server of pod
// "<sts>-2" reports "<prefix><sts>-2". ok is false when no server answered.
// Servers whose names follow no pod of the StatefulSet, or follow it with
// different prefixes, are an error: ordinals could not be told apart.
func serverPrefix(r *Report, t target) (prefix string, ok bool, err error) {
	var odd []string
	for _, s := range r.Servers {
		k := strings.LastIndex(s.Name, t.StatefulSet+"-")
		digits := ""
		if k >= 0 {
			digits = s.Name[k+len(t.StatefulSet)+1:]
		}
		if _, convErr := strconv.Atoi(digits); k < 0 || convErr != nil || (ok && s.Name[:k] != prefix) {
			odd = append(odd, s.Name)
			continue
		}
		prefix, ok = s.Name[:k], true
	}
	if len(odd) > 0 {
		return "", false, &scaling.InvalidInputError{Field: "StatefulSet", Value: t.StatefulSet,
			Reason: fmt.Sprintf("the NATS servers %s do not report names of the form <prefix>%s-<ordinal> like the other servers: they are not this StatefulSet's pods", strings.Join(odd, ", "), t.StatefulSet)}
	}
	return prefix, ok, nil
}

// target names the release, its value paths and the StatefulSet.
type target struct {
	Namespace   string `json:"namespace"`
	Release     string `json:"release"`
	Prefix      string `json:"prefix"`
	StatefulSet string `json:"statefulSet"`
	// ServerPrefix is what the servers' names add in front of their pods'
	// names (the official chart's config.serverNamePrefix), learnt from the
	// names the servers report.
	ServerPrefix string `json:"serverPrefix,omitempty"`
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

// server is the name the server of an ordinal reports (JetStream peers,
// the meta group); pod is its pod's name.
func (t target) server(ordinal int) string { return t.ServerPrefix + t.pod(ordinal) }

func (t target) pod(ordinal int) string { return fmt.Sprintf("%s-%d", t.StatefulSet, ordinal) }

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
		helmplan.FingerprintKey(t.Namespace, t.Release):              helmplan.Revision(st.release.Revision),
		scaling.FingerprintKey(t.stsRef(), scaling.AspectGeneration): stsGeneration(st),
		fpMetaPeers:   strings.Join(peers, ","),
		fpOverTarget:  names(over),
		fpOnlyLeaving: names(onlyLeaving),
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
