package nats

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/helmwrite"
)

// setRelease applies sets on top of the release's newest user values
// (helmwrite.Reapply: each step of a multi-step plan upgrades from the
// previous step's revision) and waits until the StatefulSet runs exactly n
// pods. Unchanged values are not upgraded unless force. It reports whether
// it upgraded the release.
func (c *Client) setRelease(ctx context.Context, t target, sets []helmplan.Set, n int, force bool) (bool, error) {
	_, did, err := helmwrite.Write{Mode: helmwrite.Reapply, Namespace: t.Namespace, Release: t.Release, Source: t.Chart, Sets: sets, Force: force}.Do(ctx, c.releases)
	if err != nil {
		return false, err
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
