package nats

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/values"
)

// setRelease applies sets on top of the release's newest user values
// (--reuse-values --set) and waits until the StatefulSet runs exactly n
// pods. Unchanged values are not upgraded unless force. It reports whether
// it upgraded the release.
func (c *Client) setRelease(ctx context.Context, t target, sets []helmplan.Set, n int, force bool) (bool, error) {
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		return false, err
	}
	vals := values.Copy(rel.Values)
	for _, s := range sets {
		if err := values.Set(vals, s.Path, s.Value); err != nil {
			return false, err
		}
	}
	same, err := values.Equal(rel.Values, vals)
	if err != nil {
		return false, err
	}
	did := false
	if rel.Status != "deployed" || !same || force {
		if _, err := c.releases.Upgrade(ctx, t.Namespace, t.Release, rel.Revision, t.Chart, vals); err != nil {
			return false, err
		}
		did = true
	}
	sts := c.kube.AppsV1().StatefulSets(t.Namespace)
	src := await.Typed(c.kube, "statefulset", &appsv1.StatefulSet{}, sts.List, sts.Watch, await.ByName(t.StatefulSet))
	return did, await.Until(ctx, []await.Source{src}, func(s await.Stores) (bool, error) {
		for _, o := range await.List[*appsv1.StatefulSet](s[0]) {
			if o.Status.ObservedGeneration >= o.Generation && o.Spec.Replicas != nil && int(*o.Spec.Replicas) == n && int(o.Status.Replicas) == n {
				return true, nil
			}
		}
		return false, nil
	})
}
