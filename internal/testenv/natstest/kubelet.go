package natstest

import (
	"context"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling/internal/await"
)

// Follow plays the kubelet for the cluster's servers: it watches the
// StatefulSet namespace/name and, whenever its replicas change, starts or
// stops servers (ScaleTo). When the pod template's "checksum/config"
// annotation changes to a ConfigMap "<name>-config" whose nats.conf has no
// cluster block, it restarts ordinal 0 without clustering, as the
// StatefulSet's rolling update would. So one Helm upgrade drives both the
// Kubernetes objects and the real servers.
//
// The returned stop ends following and returns what went wrong meanwhile.
func (c *Cluster) Follow(kube kubernetes.Interface, namespace, name string) (stop func() []error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		if err != nil && ctx.Err() == nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	go func() {
		defer close(done)
		sts := kube.AppsV1().StatefulSets(namespace)
		src := await.Typed(kube, "nats", &appsv1.StatefulSet{}, sts.List, sts.Watch, await.ByName(name))
		mirrored, checksum, standalone := len(c.ServerNames()), "", false
		_ = await.Until(ctx, []await.Source{src}, func(s await.Stores) (bool, error) {
			for _, o := range await.List[*appsv1.StatefulSet](s[0]) {
				if o.Spec.Replicas != nil && int(*o.Spec.Replicas) != mirrored {
					mirrored = int(*o.Spec.Replicas)
					fail(c.ScaleTo(ctx, mirrored))
				}
				if sum := o.Spec.Template.Annotations["checksum/config"]; sum != checksum {
					checksum = sum
					cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, name+"-config", metav1.GetOptions{})
					if err != nil {
						fail(err)
						continue
					}
					if !standalone && !strings.Contains(cm.Data["nats.conf"], "cluster {") {
						standalone = true
						fail(c.Standalone(c.Name(0)))
					}
				}
			}
			return false, nil
		})
	}()
	return func() []error {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return errs
	}
}
