package testenv

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// Storage classes of the environment. Neither has a real provisioner: the
// environment's own loop creates a hostPath PV for each claim and, for the
// expandable class, resizes the volume when a claim asks for more (what a
// CSI resizer and the kubelet do together).
const (
	// ExpandableClass is the default class; it allows volume expansion.
	ExpandableClass = "standard"
	// FixedClass does not allow volume expansion.
	FixedClass = "fixed"
)

func (e *Env) installStorage(ctx context.Context) error {
	immediate := storagev1.VolumeBindingImmediate
	for _, sc := range []struct {
		name    string
		expand  bool
		primary bool
	}{{ExpandableClass, true, true}, {FixedClass, false, false}} {
		expand := sc.expand
		obj := &storagev1.StorageClass{
			ObjectMeta:           metav1.ObjectMeta{Name: sc.name},
			Provisioner:          "kubernetes.io/no-provisioner",
			VolumeBindingMode:    &immediate,
			AllowVolumeExpansion: &expand,
		}
		if sc.primary {
			obj.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		if _, err := e.Client.StorageV1().StorageClasses().Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating storage class %s: %w", sc.name, err)
		}
	}
	return nil
}

// startProvisioner runs provision until Stop.
func (e *Env) startProvisioner() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stopProv, e.provDone = cancel, make(chan struct{})
	go func() {
		defer close(e.provDone)
		e.provision(ctx)
	}()
}

// provision binds every pending claim of the environment's classes to a new
// hostPath PV of the requested size, the part of a CSI driver the tests need.
func (e *Env) provision(ctx context.Context) {
	pvcs := e.Client.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll)
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return pvcs.List(ctx, o)
			},
			WatchFuncWithContext: pvcs.Watch,
		}, e.Client),
		ObjectType: &corev1.PersistentVolumeClaim{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) { e.bind(ctx, o) },
			UpdateFunc: func(_, o any) {
				e.bind(ctx, o)
				e.resize(ctx, o)
			},
			DeleteFunc: func(o any) { e.release(ctx, o) },
		},
	})
	ctrl.RunWithContext(ctx)
}

func (e *Env) bind(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil {
		return
	}
	class := ExpandableClass
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class != ExpandableClass && class != FixedClass {
		return
	}
	name := "pv-" + string(pvc.UID)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			VolumeMode:                    pvc.Spec.VolumeMode,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              class,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(e.dir, "volumes", name)}},
		},
	}
	// AlreadyExists is the normal outcome of a repeated update event.
	_, _ = e.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
}

// release deletes the volume of a deleted claim. KCM's hostPath deleter
// does it too, but only for paths under /tmp/, which the environment's
// directory is not when TMPDIR points elsewhere; left alone, the PV would
// turn Failed and linger.
func (e *Env) release(ctx context.Context, o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	// NotFound is the normal outcome when KCM got there first.
	_ = e.Client.CoreV1().PersistentVolumes().Delete(ctx, "pv-"+string(pvc.UID), metav1.DeleteOptions{})
}

// resize grows a bound claim of the expandable class whose request exceeds
// its capacity: the PV's capacity first, then the claim's status, the order
// of the external resizer and the kubelet's filesystem expansion. Claims of
// the fixed class are never resized; the API server refuses their request
// change anyway.
func (e *Env) resize(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound || pvc.DeletionTimestamp != nil {
		return
	}
	if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != ExpandableClass {
		return
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pvc.Status.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 {
		return
	}
	pv, err := e.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return
	}
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
	if _, err := e.Client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		return // a conflict: the next update event retries
	}
	pvc = pvc.DeepCopy()
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
	pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
	_, _ = e.Client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{})
}
