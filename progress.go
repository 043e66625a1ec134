package scaling

import "time"

// EventKind classifies a progress event.
type EventKind string

const (
	StepStarted   EventKind = "StepStarted"
	StepFinished  EventKind = "StepFinished"
	CheckObserved EventKind = "CheckObserved"
)

// Event reports progress of Apply or Verify.
type Event struct {
	Kind      EventKind `json:"kind"`
	Operation string    `json:"operation"`
	Time      time.Time `json:"time"`
	// Step is set for StepStarted and StepFinished (index into Plan.Steps in Index).
	Step  *Step `json:"step,omitempty"`
	Index int   `json:"index"`
	// Err is set on a StepFinished whose step failed.
	Err error `json:"-"`
	// Check is set for CheckObserved.
	Check *Check `json:"check,omitempty"`
}

// Progress receives events. It is called synchronously from the goroutine
// running the operation, so it should return quickly; send to a channel from
// it to decouple. A nil Progress drops events.
type Progress func(Event)

// Emit calls p with e when p is not nil, stamping the time.
func (p Progress) Emit(e Event) {
	if p == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	p(e)
}
