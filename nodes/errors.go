package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ironflow/scaling/postgres"
)

// The guards of a drain. A blocking one carries its typed error below.
const (
	// GuardSingleInstance: a single-instance CNPG cluster whose only
	// instance runs on the node (cause *postgres.SingleInstanceError).
	GuardSingleInstance = "single-instance"
	// GuardSwitchover: the switchover of a primary on the node is blocked
	// by its own guards (cause *SwitchoverBlockedError).
	GuardSwitchover = "switchover"
	// GuardDisruptionBudget: a PodDisruptionBudget allows no disruption of
	// a pod to evict (cause *DisruptionBudgetError).
	GuardDisruptionBudget = "disruption-budget"
	// GuardUnmanaged: a pod no controller manages would be lost (cause
	// *UnmanagedPodsError).
	GuardUnmanaged = "unmanaged-pods"
	// GuardNATS: a NATS server runs on the node (warn only).
	GuardNATS = "nats-quorum"
)

// Sentinels of the guard errors, for errors.Is.
var (
	// ErrSwitchoverBlocked: the switchover of a primary on the node would
	// not be safe.
	ErrSwitchoverBlocked = errors.New("nodes: the switchover of a primary on the node is blocked")
	// ErrDisruptionBudget: a PodDisruptionBudget allows no disruption.
	ErrDisruptionBudget = errors.New("nodes: a PodDisruptionBudget allows no disruption of a pod to evict")
	// ErrUnmanaged: a bare pod would be lost by the eviction.
	ErrUnmanaged = errors.New("nodes: a pod not managed by a controller runs on the node")
	// ErrSwitchoverFailed: Apply's switchover did not verify.
	ErrSwitchoverFailed = errors.New("nodes: the switchover did not complete")
)

// BlockedSwitchover is one CNPG cluster whose switchover is blocked.
type BlockedSwitchover struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Primary   string `json:"primary"`
	// Reasons are the blocking postgres guards' reasons, by guard name.
	Reasons map[string]string `json:"reasons"`
	// Causes are the postgres guards' typed errors, as JSON, by guard name.
	Causes map[string]json.RawMessage `json:"causes,omitempty"`
}

// SwitchoverBlockedError: a primary on the node cannot be switched over
// safely, so the node cannot be drained. Unwrap returns the postgres
// package's typed causes (*postgres.LagError, *postgres.InFlightError...).
type SwitchoverBlockedError struct {
	Clusters []BlockedSwitchover `json:"clusters"`
}

func (e *SwitchoverBlockedError) Error() string {
	var parts []string
	for _, c := range e.Clusters {
		var rs []string
		for _, g := range sortedKeys(c.Reasons) {
			rs = append(rs, g+": "+c.Reasons[g])
		}
		parts = append(parts, fmt.Sprintf("%s/%s (primary %s): %s", c.Namespace, c.Cluster, c.Primary, strings.Join(rs, "; ")))
	}
	return "nodes: the switchover of the primary on the node is blocked: " + strings.Join(parts, " | ")
}

// Is reports ErrSwitchoverBlocked.
func (e *SwitchoverBlockedError) Is(target error) bool { return target == ErrSwitchoverBlocked }

// Unwrap decodes the postgres causes, so errors.As finds them.
func (e *SwitchoverBlockedError) Unwrap() []error {
	var out []error
	for _, c := range e.Clusters {
		for _, g := range sortedKeys(c.Causes) {
			mk := postgresKinds[g]
			if mk == nil {
				continue
			}
			v := mk()
			if json.Unmarshal(c.Causes[g], v) == nil {
				out = append(out, v)
			}
		}
	}
	return out
}

// postgresKinds decodes the postgres switchover guards' causes.
var postgresKinds = map[string]func() error{
	postgres.GuardInstances: func() error { return &postgres.SingleInstanceError{} },
	postgres.GuardInFlight:  func() error { return &postgres.InFlightError{} },
	postgres.GuardFenced:    func() error { return &postgres.UnavailableError{} },
	postgres.GuardHibernate: func() error { return &postgres.UnavailableError{} },
	postgres.GuardReplica:   func() error { return &postgres.UnavailableError{} },
	postgres.GuardTarget:    func() error { return &postgres.TargetError{} },
	postgres.GuardLag:       func() error { return &postgres.LagError{} },
}

// DisruptionBudgetError: PodDisruptionBudgets whose
// status.disruptionsAllowed is 0 select pods the drain would evict: each
// eviction would be refused (429) until the budget allows one.
type DisruptionBudgetError struct {
	// Budgets are namespace/name of the budgets; Pods namespace/name of
	// the pods they protect.
	Budgets []string `json:"budgets"`
	Pods    []string `json:"pods"`
}

func (e *DisruptionBudgetError) Error() string {
	return fmt.Sprintf("nodes: PodDisruptionBudget %s allows no disruption, and the drain would evict %s: the eviction would be refused",
		strings.Join(e.Budgets, ", "), strings.Join(e.Pods, ", "))
}

// Is reports ErrDisruptionBudget.
func (e *DisruptionBudgetError) Is(target error) bool { return target == ErrDisruptionBudget }

// UnmanagedPodsError: pods no controller manages (bare pods) run on the
// node; an eviction deletes them for good (kubectl drain refuses them
// without --force).
type UnmanagedPodsError struct {
	Node string   `json:"node"`
	Pods []string `json:"pods"`
}

func (e *UnmanagedPodsError) Error() string {
	return fmt.Sprintf("nodes: %s run on node %s without a controller: evicting them deletes them for good (nothing re-creates them)",
		strings.Join(e.Pods, ", "), e.Node)
}

// Is reports ErrUnmanaged.
func (e *UnmanagedPodsError) Is(target error) bool { return target == ErrUnmanaged }

// SwitchoverFailedError: Apply ran a switchover whose Verify did not
// succeed; the drain stops before it cordons anything.
type SwitchoverFailedError struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Phase     string `json:"phase"`
	Reason    string `json:"reason"`
}

func (e *SwitchoverFailedError) Error() string {
	return fmt.Sprintf("nodes: the switchover of %s/%s ended %s (%s): the node is not drained", e.Namespace, e.Cluster, e.Phase, e.Reason)
}

// Is reports ErrSwitchoverFailed.
func (e *SwitchoverFailedError) Is(target error) bool { return target == ErrSwitchoverFailed }
