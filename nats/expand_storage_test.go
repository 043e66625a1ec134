package nats

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
)

// TestPlanExpandStorageChecksInputBeforeReading: every invalid request is a
// *scaling.InvalidInputError naming the field, and the clientset saw no
// request (Releases and System are nil: reaching them would panic).
func TestPlanExpandStorageChecksInputBeforeReading(t *testing.T) {
	kube := fake.NewClientset()
	c := &Client{kube: kube}
	ok := ExpandStorage{Namespace: "ns", Release: "r", Size: "20Gi"}
	for _, tc := range []struct {
		field string
		edit  func(*ExpandStorage)
	}{
		{"ExpandStorage.Namespace", func(r *ExpandStorage) { r.Namespace = "" }},
		{"ExpandStorage.Release", func(r *ExpandStorage) { r.Release = "" }},
		{"ExpandStorage.ValuePrefix", func(r *ExpandStorage) { r.Standalone, r.ValuePrefix = true, "nats" }},
		{"ExpandStorage.ValuePrefix", func(r *ExpandStorage) { r.ValuePrefix = "platform.nats." }},
		{"ExpandStorage.Size", func(r *ExpandStorage) { r.Size = "" }},
		{"ExpandStorage.Size", func(r *ExpandStorage) { r.Size = "twenty gigs" }},
		{"ExpandStorage.Size", func(r *ExpandStorage) { r.Size = "-1Gi" }},
		{"ExpandStorage.Size", func(r *ExpandStorage) { r.Size = "0" }},
	} {
		req := ok
		tc.edit(&req)
		plan, err := c.PlanExpandStorage(t.Context(), req)
		assert.Nil(t, plan)
		var bad *scaling.InvalidInputError
		require.ErrorAs(t, err, &bad, "%+v", req)
		assert.Equal(t, tc.field, bad.Field)
		assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	}
	assert.Empty(t, kube.Actions(), "bad input reads nothing")
}

func storageClass(name string, isDefault bool) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/hostpath"}
	if isDefault {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	return sc
}

// TestDefaultStorageClass: claims that name no class get the class
// annotated as the default; a cluster without one is a NotFoundError, not
// a guess.
func TestDefaultStorageClass(t *testing.T) {
	c := &Client{kube: fake.NewClientset(storageClass("fixed", false), storageClass("standard", true))}
	class, err := c.defaultClass(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "standard", class)

	c = &Client{kube: fake.NewClientset(storageClass("fixed", false))}
	_, err = c.defaultClass(t.Context())
	var nf *scaling.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "StorageClass", nf.Object.Kind)
	assert.ErrorIs(t, err, scaling.ErrNotFound)
}

// TestDecideExpandAtTheChartDefaultIsANoOp: a release that never set the
// size runs the chart's default; asking for that size changes nothing, so
// the plan must not upgrade the release just to write the default down.
func TestDecideExpandAtTheChartDefaultIsANoOp(t *testing.T) {
	vs := volumes(true, "10Gi", "10Gi", "10Gi", "10Gi")
	// The templates see the chart's default; the user values never set it.
	vs.computed, vs.release.Values = vs.release.Values, map[string]any{"nats": map[string]any{"enabled": true}}
	d := expandFor(ExpandStorage{Size: "10Gi"}, vs)
	assert.Empty(t, d.steps)
	assert.Empty(t, causes(d.guards))

	// Growing from the default still writes the value.
	d = expandFor(ExpandStorage{Size: "20Gi"}, vs)
	require.NotEmpty(t, d.steps)
	last := d.steps[len(d.steps)-1]
	assert.Equal(t, ActionSetReleaseValue, last.Action)
	assert.Equal(t, "nats."+storageValue, last.Field)
	assert.Equal(t, "20Gi", last.After)
}

// TestDecideExpandOnlyTheValueDiffers: volumes and template grown by hand,
// the release still saying the old size: only the value is written (no
// claim resized, the StatefulSet kept), so the next upgrade cannot fail on
// or revert the template.
func TestDecideExpandOnlyTheValueDiffers(t *testing.T) {
	vs := volumes(true, "20Gi", "20Gi", "20Gi")
	vs.release.Values = map[string]any{"nats": map[string]any{"config": map[string]any{"jetstream": map[string]any{"fileStore": map[string]any{"pvc": map[string]any{"size": "10Gi"}}}}}}
	d := expandFor(ExpandStorage{Size: "20Gi"}, vs)
	require.Len(t, d.steps, 1)
	assert.Equal(t, ActionSetReleaseValue, d.steps[0].Action)
	assert.Empty(t, causes(d.guards))
}

// TestDecideExpandNeedsAHealthyCluster: the upgrade rolls every server for
// the new max_file_store, so an offline peer blocks the plan.
func TestDecideExpandNeedsAHealthyCluster(t *testing.T) {
	vs := volumes(true, "10Gi", "10Gi", "10Gi", "10Gi")
	vs.report.Meta.Peers[2].Current, vs.report.Meta.Peers[2].Offline = false, true
	d := expandFor(ExpandStorage{Size: "20Gi"}, vs)
	assert.Equal(t, scaling.Block, outcome(d, GuardHealth))
	require.NotNil(t, causeOf[*UnhealthyError](d, GuardHealth))
	assert.Equal(t, []string{"n-2"}, causeOf[*UnhealthyError](d, GuardHealth).Offline)
}

// TestApplyRefusesABlockedExpandPlanWithoutReading: a stored plan whose
// guards block comes back as a GuardBlockedError whose causes are the typed
// findings, before any request.
func TestApplyRefusesABlockedExpandPlanWithoutReading(t *testing.T) {
	r1 := StreamReport{Account: "APP", Name: "AUDIT", Replicas: 1, Leader: "n-1", Peers: []string{"n-1"}}
	vs := volumes(false, "10Gi", "10Gi", "10Gi", "10Gi")
	vs.report.Streams = []StreamReport{r1}
	req := ExpandStorage{Namespace: "ns", Size: "20Gi"}
	d := expandFor(req, vs)
	req.StatefulSet, req.Release = "n", "r"
	stored, err := opkit.CausesOf(d.guards)
	require.NoError(t, err)
	raw, err := planspec.Encode(expandSpec{Request: req, Target: newTarget("ns", "r", "", false, "n"), Size: "20Gi", Causes: stored})
	require.NoError(t, err)
	// As decoded from JSON: the guards carry no in-memory cause.
	guards := slices.Clone(d.guards)
	for i := range guards {
		guards[i].Cause = nil
	}
	plan := &scaling.Plan{Version: scaling.PlanVersion, Operation: OpExpandStorage, Steps: d.steps, Guards: guards, Spec: raw}

	kube := fake.NewClientset()
	c := &Client{kube: kube}
	c.ops = c.register()
	_, err = c.Apply(t.Context(), plan)
	var blocked *scaling.GuardBlockedError
	require.ErrorAs(t, err, &blocked)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var notExp *NotExpandableError
	require.ErrorAs(t, err, &notExp)
	assert.Equal(t, "c", notExp.StorageClass)
	assert.ErrorIs(t, err, ErrNotExpandable)
	var unrep *UnreplicatedError
	require.ErrorAs(t, err, &unrep)
	assert.Equal(t, []StreamRef{{Account: "APP", Name: "AUDIT", Replicas: 1, Peers: []string{"n-1"}}}, unrep.Streams)
	assert.Contains(t, unrep.Error(), "APP/AUDIT (R1) on n-1")
	assert.ErrorIs(t, err, ErrUnreplicated)
	assert.False(t, errors.Is(err, ErrShrink))
	assert.Empty(t, kube.Actions(), "a blocked plan reads nothing")
}

// TestShrinkErrorNamesBothSizes: the refusal says what is there and what
// was asked, in canonical quantities.
func TestShrinkErrorNamesBothSizes(t *testing.T) {
	d := expandFor(ExpandStorage{Size: "5120Mi"}, volumes(true, "10Gi", "10Gi", "10Gi"))
	require.NotNil(t, causeOf[*ShrinkError](d, GuardShrink))
	assert.Equal(t, "10Gi", causeOf[*ShrinkError](d, GuardShrink).Current)
	assert.Equal(t, "5Gi", causeOf[*ShrinkError](d, GuardShrink).Requested)
	assert.Contains(t, causeOf[*ShrinkError](d, GuardShrink).Error(), "volumes are 10Gi; 5Gi would shrink them")
	assert.ErrorIs(t, causeOf[*ShrinkError](d, GuardShrink), ErrShrink)
}

// TestDecideExpandWithinTheStorageLimits: 1000Pi was planned with every
// guard passing; now the size must fit the backend's largest volume, a
// PVC LimitRange's max, and the growth what the storage quotas leave (the
// API server would refuse the third claim's resize after two grew).
func TestDecideExpandWithinTheStorageLimits(t *testing.T) {
	vs := volumes(true, "10Gi", "10Gi", "10Gi", "10Gi", "10Gi")
	vs.maxSize = resource.MustParse(DefaultMaxVolumeSize)
	d := expandFor(ExpandStorage{Size: "1000Pi"}, vs)
	assert.Equal(t, scaling.Block, outcome(d, scaling.GuardStorage))
	cause := causeOf[*scaling.StorageError](d, scaling.GuardStorage)
	require.NotNil(t, cause)
	assert.Equal(t, []scaling.StorageShortfall{{Of: "volume maximum", Need: "1000Pi", Have: "10Ti"}}, cause.Short)
	assert.ErrorIs(t, cause, scaling.ErrStorage)
	assert.Contains(t, cause.Error(), "a 1000Pi volume is above the largest the storage backend provisions (10Ti)")

	d = expandFor(ExpandStorage{Size: "20Gi"}, vs)
	assert.Equal(t, scaling.Pass, outcome(d, scaling.GuardStorage))

	quota := func(key corev1.ResourceName, hard, used string) corev1.ResourceQuota {
		return corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "storage"},
			Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{key: resource.MustParse(hard)}},
			Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{key: resource.MustParse(used)}}}
	}
	vs.quotas = []corev1.ResourceQuota{quota(corev1.ResourceRequestsStorage, "100Gi", "50Gi")}
	d = expandFor(ExpandStorage{Size: "20Gi"}, vs)
	assert.Equal(t, scaling.Pass, outcome(d, scaling.GuardStorage), "4 claims x 10Gi more fit in the 50Gi left")
	d = expandFor(ExpandStorage{Size: "30Gi"}, vs)
	require.NotNil(t, causeOf[*scaling.StorageError](d, scaling.GuardStorage))
	assert.Equal(t, []scaling.StorageShortfall{{Of: "ResourceQuota", Name: "storage", Resource: "requests.storage", Need: "80Gi", Have: "50Gi"}},
		causeOf[*scaling.StorageError](d, scaling.GuardStorage).Short)

	vs.quotas = []corev1.ResourceQuota{quota("c.storageclass.storage.k8s.io/requests.storage", "40Gi", "30Gi")}
	d = expandFor(ExpandStorage{Size: "20Gi"}, vs)
	assert.Equal(t, "c.storageclass.storage.k8s.io/requests.storage", causeOf[*scaling.StorageError](d, scaling.GuardStorage).Short[0].Resource, "the class's own quota counts too")

	vs.quotas = nil
	vs.limits = []corev1.LimitRange{{ObjectMeta: metav1.ObjectMeta{Name: "claims"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypePersistentVolumeClaim, Max: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("25Gi")}}}}}}
	d = expandFor(ExpandStorage{Size: "20Gi"}, vs)
	assert.Equal(t, scaling.Pass, outcome(d, scaling.GuardStorage))
	d = expandFor(ExpandStorage{Size: "30Gi"}, vs)
	assert.Equal(t, []scaling.StorageShortfall{{Of: "LimitRange", Name: "claims", Need: "30Gi", Have: "25Gi"}}, causeOf[*scaling.StorageError](d, scaling.GuardStorage).Short)
}
