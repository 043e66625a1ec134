package natstest

import (
	"context"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling/internal/await"
)

// Follow plays the kubelet for the cluster's servers: it watches the
// StatefulSet namespace/name and, whenever its replicas change, starts or
// stops servers (ScaleTo). When the pod template's "checksum/config"
// annotation changes to a ConfigMap "<name>-config" whose nats.conf has no
// cluster block, it restarts ordinal 0 without clustering, as the
// StatefulSet's rolling update would. When a server's claim ("<template>-
// <name>-<i>") is replaced by a new one, it restarts that server on an empty
// store, as a pod that mounts a new volume. So one Helm upgrade or one
// deleted claim drives both the Kubernetes objects and the real servers.
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
		pvcs := kube.CoreV1().PersistentVolumeClaims(namespace)
		sources := []await.Source{
			await.Typed(kube, "nats", &appsv1.StatefulSet{}, sts.List, sts.Watch, await.ByName(name)),
			await.Typed(kube, "claims", &corev1.PersistentVolumeClaim{}, pvcs.List, pvcs.Watch, metav1.ListOptions{}),
		}
		mirrored, checksum, standalone := len(c.ServerNames()), "", false
		claims := map[string]types.UID{}
		_ = await.Until(ctx, sources, func(s await.Stores) (bool, error) {
			for _, pvc := range await.List[*corev1.PersistentVolumeClaim](s[1]) {
				i, ok := claimOrdinal(pvc.Name, name)
				if !ok || pvc.DeletionTimestamp != nil {
					continue
				}
				if old, seen := claims[pvc.Name]; seen && old != pvc.UID && c.Server(c.Name(i)) != nil {
					fail(c.replaceVolume(ctx, c.Name(i)))
				}
				claims[pvc.Name] = pvc.UID
			}
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

// claimOrdinal returns the ordinal of a claim named "<template>-<sts>-<i>".
func claimOrdinal(claim, sts string) (int, bool) {
	k := strings.LastIndex(claim, "-")
	if k < 0 || !strings.HasSuffix(claim[:k], "-"+sts) {
		return 0, false
	}
	i, err := strconv.Atoi(claim[k+1:])
	return i, err == nil
}

// replaceVolume restarts a server on an empty store.
func (c *Cluster) replaceVolume(ctx context.Context, name string) error {
	if err := c.Stop(name); err != nil {
		return err
	}
	if err := c.Wipe(name); err != nil {
		return err
	}
	return c.Restart(ctx, name)
}
