package quota

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
)

// Quotas, LimitRanges of other types and other classes' keys do not
// constrain; every limit that does is named with its numbers.
func TestStorageGuardNamesEveryLimitItExceeds(t *testing.T) {
	v := Volumes{Namespace: "t", Class: "fast", Size: resource.MustParse("50Gi"), Growth: resource.MustParse("120Gi"), Claims: 3}
	quotas := []corev1.ResourceQuota{{
		ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsStorage: resource.MustParse("1Ti"), StorageClassKey("fast"): resource.MustParse("100Gi"),
			StorageClassKey("slow"): resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("1")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{StorageClassKey("fast"): resource.MustParse("30Gi")}},
	}}
	limits := []corev1.LimitRange{{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		{Type: corev1.LimitTypePersistentVolumeClaim, Max: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("40Gi")}},
	}}}}
	g := StorageGuard(v, quotas, limits, resource.MustParse("10Ti"))
	assert.Equal(t, scaling.Block, g.Outcome)
	cause, ok := g.Cause.(*scaling.StorageError)
	assert.True(t, ok)
	assert.Equal(t, []scaling.StorageShortfall{
		{Of: "ResourceQuota", Name: "team", Resource: "fast.storageclass.storage.k8s.io/requests.storage", Need: "120Gi", Have: "70Gi"},
		{Of: "LimitRange", Name: "lr", Need: "50Gi", Have: "40Gi"},
	}, cause.Short)

	g = StorageGuard(Volumes{Size: resource.MustParse("20Gi"), Growth: resource.MustParse("30Gi"), Claims: 3}, nil, nil, resource.Quantity{})
	assert.Equal(t, scaling.Pass, g.Outcome)
	assert.Contains(t, g.Reason, "no storage quota, LimitRange or maximum applies")
}
