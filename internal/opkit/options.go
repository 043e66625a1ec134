package opkit

import (
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/redact"
)

// WriteOptions validates the options every package that writes through
// Helm takes alike, the chart source (Options.Chart) and the sources Apply
// trusts besides it (Options.TrustedCharts), and makes the redactor of the
// package's plans from Options.Redaction.
func WriteOptions(chart scaling.ChartSource, trusted []scaling.ChartSource, r scaling.Redaction) (*redact.Redactor, error) {
	if err := chart.Validate("Options.Chart"); err != nil {
		return nil, err
	}
	if err := ValidateCharts("Options.TrustedCharts", trusted); err != nil {
		return nil, err
	}
	return redact.New(r)
}

// VolumeLimit validates an Options.MaxVolumeSize, the largest volume the
// storage guard lets a plan ask for, and sets it to def when it is zero.
func VolumeLimit(q *resource.Quantity, def string) error {
	switch {
	case q.Sign() < 0:
		return &scaling.InvalidInputError{Field: "Options.MaxVolumeSize", Value: q.String(), Reason: "must not be negative"}
	case q.IsZero():
		*q = resource.MustParse(def)
	}
	return nil
}
