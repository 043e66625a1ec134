package planspec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

func TestRoundTripAndRefusals(t *testing.T) {
	raw, err := Encode(map[string]int{"replicas": 5})
	require.NoError(t, err)
	var got map[string]int
	require.NoError(t, Decode(&scaling.Plan{Version: scaling.PlanVersion, Spec: raw}, &got))
	assert.Equal(t, 5, got["replicas"])

	assert.ErrorIs(t, Decode(&scaling.Plan{Version: scaling.PlanVersion + 1, Spec: raw}, &got), scaling.ErrInvalidPlan)
	assert.ErrorIs(t, Decode(&scaling.Plan{Version: scaling.PlanVersion, Spec: []byte("[")}, &got), scaling.ErrInvalidPlan)
	_, err = Encode(func() {})
	assert.Error(t, err)
}
