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

func TestWithDecodesOrRefuses(t *testing.T) {
	raw, err := Encode(map[string]int{"replicas": 5})
	require.NoError(t, err)
	got, err := With(&scaling.Plan{Version: scaling.PlanVersion, Spec: raw}, func(s *map[string]int) (int, error) { return (*s)["replicas"], nil })
	require.NoError(t, err)
	assert.Equal(t, 5, got)
	called := false
	_, err = With(&scaling.Plan{Version: 0, Spec: raw}, func(*map[string]int) (int, error) { called = true; return 0, nil })
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	assert.False(t, called, "fn never sees an undecodable spec")
}
