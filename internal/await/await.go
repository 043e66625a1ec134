// Package await is the one watch-based waiter every operation's Verify uses.
// It runs an informer per watched source and re-evaluates a condition on
// every event, so a Verify returns within milliseconds of the state it waits
// for, without polling.
package await

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Source is one set of objects to watch: a list/watch pair restricted by
// selectors, and an example of the object type.
type Source struct {
	Name   string
	LW     cache.ListerWatcher
	Object runtime.Object
}

// Lister and Watcher are the List and Watch methods of a typed client, e.g.
// kube.CoreV1().Pods(ns).
type (
	Lister[L runtime.Object] func(context.Context, metav1.ListOptions) (L, error)
	Watcher                  func(context.Context, metav1.ListOptions) (watch.Interface, error)
)

// Typed builds a Source from a typed client's List and Watch with fixed
// list options (label and field selectors). client is the clientset the
// functions belong to: a fake clientset says through it that it cannot serve
// streaming lists, without which an informer on it never syncs.
func Typed[L runtime.Object](client any, name string, obj runtime.Object, list Lister[L], w Watcher, opts metav1.ListOptions) Source {
	return Source{
		Name:   name,
		Object: obj,
		LW: cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector, o.FieldSelector = opts.LabelSelector, opts.FieldSelector
				return list(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector, o.FieldSelector = opts.LabelSelector, opts.FieldSelector
				return w(ctx, o)
			},
		}, client),
	}
}

// ByName restricts a list to one object name.
func ByName(name string) metav1.ListOptions {
	return metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}
}

// Stores gives a condition read access to the watched objects, one store per
// Source, in the order the sources were given.
type Stores []cache.Store

// Condition inspects the stores. It returns true when the awaited state
// holds, or an error to stop waiting (e.g. a state that can no longer
// converge). It is never called concurrently.
type Condition func(Stores) (bool, error)

// Until watches every source and returns nil as soon as cond holds, cond's
// error if it returns one, or ctx.Err() once ctx is done. cond is evaluated
// once after all initial lists are in, then after every event.
func Until(ctx context.Context, sources []Source, cond Condition) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stores, changed, err := Watch(ctx, sources)
	if err != nil {
		return err
	}
	return Signalled(ctx, changed, func() (bool, error) { return cond(stores) })
}

// Watch starts an informer per source, waits for their initial lists and
// returns the stores and a channel that delivers after every event, for a
// caller that merges Kubernetes events with others (Until is Watch plus
// Signalled). The informers run until ctx ends.
func Watch(ctx context.Context, sources []Source) (Stores, <-chan struct{}, error) {
	if len(sources) == 0 {
		return nil, nil, fmt.Errorf("await: no sources to watch")
	}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // an evaluation is already pending: it will see this change too
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	stores := make(Stores, len(sources))
	synced := make([]cache.InformerSynced, len(sources))
	for i, s := range sources {
		store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
			ListerWatcher: s.LW,
			ObjectType:    s.Object,
			Handler:       handler,
		})
		stores[i] = store
		synced[i] = ctrl.HasSynced
		go ctrl.RunWithContext(ctx)
	}
	if err := waitSynced(ctx, synced); err != nil {
		return nil, nil, err
	}
	return stores, changed, nil
}

// Merge returns a channel that delivers whenever any of the inputs does,
// until ctx ends.
func Merge(ctx context.Context, inputs ...<-chan struct{}) <-chan struct{} {
	out := make(chan struct{}, 1)
	for _, in := range inputs {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-in:
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	return out
}

// Signalled is the loop under Until, for state that is not a Kubernetes
// object: it evaluates cond once, then again whenever changed delivers (a
// NATS advisory, a server event), until cond holds, returns an error, or ctx
// ends. Senders should not block: one pending signal covers every change
// that arrives before the next evaluation.
func Signalled(ctx context.Context, changed <-chan struct{}, cond func() (bool, error)) error {
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// waitSynced waits for the initial lists. cache.WaitForCacheSync checks every
// 100 ms, which would be most of a Verify's latency when the awaited state
// already holds; the lists of a small selection arrive in a few ms.
func waitSynced(ctx context.Context, synced []cache.InformerSynced) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		all := true
		for _, s := range synced {
			all = all && s()
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// List returns the store's objects converted to T, skipping other types.
func List[T any](s cache.Store) []T {
	items := s.List()
	out := make([]T, 0, len(items))
	for _, it := range items {
		if t, ok := it.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
