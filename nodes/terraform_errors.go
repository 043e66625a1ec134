package nodes

import (
	"errors"
	"fmt"
	"strings"
)

// The guards of AddWorker and Destroy. A blocking one carries its typed
// error below.
const (
	// GuardWorkerCount: the requested count is below the current one
	// (cause *RemovingWorkersError).
	GuardWorkerCount = "worker-count"
	// GuardReplacement: the Terraform plan destroys or replaces existing
	// resources (cause *ReplacementError).
	GuardReplacement = "replacement"
	// GuardOtherChanges: the Terraform plan changes more than the added
	// workers (warn only: applying the saved plan applies all of it).
	GuardOtherChanges = "other-changes"
	// GuardBackups: a destroy whose caller has not confirmed backups
	// (cause *BackupsUnconfirmedError); a warning when confirmed but a
	// CloudNativePG cluster has no backup method.
	GuardBackups = "backups"
)

// Sentinels, for errors.Is.
var (
	// ErrTerraformNotFound: no terraform or tofu binary to drive.
	ErrTerraformNotFound = errors.New("nodes: no terraform or tofu binary found")
	// ErrStateLocked: someone holds the Terraform state lock.
	ErrStateLocked = errors.New("nodes: the Terraform state is locked")
	// ErrTerraform: a Terraform command failed.
	ErrTerraform = errors.New("nodes: a Terraform command failed")
	// ErrVariableMissing: the configuration declares no such variable.
	ErrVariableMissing = errors.New("nodes: the Terraform variable is not declared")
	// ErrTFVars: the tfvars file cannot be edited safely.
	ErrTFVars = errors.New("nodes: the tfvars file cannot be edited")
	// ErrRemovingWorkers: a count below the current one.
	ErrRemovingWorkers = errors.New("nodes: the requested worker count removes workers")
	// ErrReplacement: the Terraform plan destroys or replaces resources.
	ErrReplacement = errors.New("nodes: the Terraform plan destroys or replaces existing resources")
	// ErrBackupsUnconfirmed: a destroy without confirmed backups.
	ErrBackupsUnconfirmed = errors.New("nodes: destroying the cluster needs confirmed backups")
)

// TerraformNotFoundError: none of the binaries tried is on PATH.
type TerraformNotFoundError struct {
	Tried []string `json:"tried"`
}

func (e *TerraformNotFoundError) Error() string {
	return "nodes: no Terraform binary: tried " + strings.Join(e.Tried, ", ") + " on PATH (set Options.Terraform to a terraform or tofu binary)"
}

// Is reports ErrTerraformNotFound.
func (e *TerraformNotFoundError) Is(target error) bool { return target == ErrTerraformNotFound }

// StateLockedError: Terraform could not take the state lock; the fields
// are Terraform's lock info.
type StateLockedError struct {
	Command   string `json:"command"`
	ID        string `json:"id,omitempty"`
	Path      string `json:"path,omitempty"`
	Operation string `json:"operation,omitempty"`
	Who       string `json:"who,omitempty"`
	Created   string `json:"created,omitempty"`
}

func (e *StateLockedError) Error() string {
	return fmt.Sprintf("nodes: terraform %s: the state is locked (lock %s held by %s for %s since %s): wait for that run to end; `terraform force-unlock %s` only if it died",
		e.Command, e.ID, orUnknown(e.Who), orUnknown(e.Operation), orUnknown(e.Created), e.ID)
}

// Is reports ErrStateLocked.
func (e *StateLockedError) Is(target error) bool { return target == ErrStateLocked }

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// TerraformError: a Terraform command failed; Err holds its output.
// Stale is true when Terraform refused a saved plan because the state
// moved since it was made.
type TerraformError struct {
	Command string `json:"command"`
	Stale   bool   `json:"stale,omitempty"`
	Err     error  `json:"-"`
}

func (e *TerraformError) Error() string {
	return "nodes: terraform " + e.Command + ": " + e.Err.Error()
}

// Is reports ErrTerraform.
func (e *TerraformError) Is(target error) bool { return target == ErrTerraform }

// Unwrap returns Terraform's error.
func (e *TerraformError) Unwrap() error { return e.Err }

// VariableMissingError: the configuration in Dir declares no variable of
// that name, so setting it in tfvars would change nothing (Terraform only
// warns about an undeclared value).
type VariableMissingError struct {
	Dir      string   `json:"dir"`
	Variable string   `json:"variable"`
	Declared []string `json:"declared"`
}

func (e *VariableMissingError) Error() string {
	return fmt.Sprintf("nodes: %s declares no variable %q (declared: %s): name the right one in the request", e.Dir, e.Variable, strings.Join(e.Declared, ", "))
}

// Is reports ErrVariableMissing.
func (e *VariableMissingError) Is(target error) bool { return target == ErrVariableMissing }

// TFVarsError: the tfvars file is missing, malformed, or holds a value the
// edit cannot keep as a literal; the file is untouched.
type TFVarsError struct {
	File     string `json:"file"`
	Variable string `json:"variable,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Reason   string `json:"reason"`
	Err      error  `json:"-"`
}

func (e *TFVarsError) Error() string {
	at := e.File
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d,%d", e.File, e.Line, e.Column)
	}
	if e.Variable != "" {
		at += ": " + e.Variable
	}
	return "nodes: " + at + ": " + e.Reason + " (the file is untouched)"
}

// Is reports ErrTFVars.
func (e *TFVarsError) Is(target error) bool { return target == ErrTFVars }

// Unwrap returns the editor's error.
func (e *TFVarsError) Unwrap() error { return e.Err }

// RemovingWorkersError: the request asks for fewer workers than the
// directory has; AddWorker only adds.
type RemovingWorkersError struct {
	Variable  string `json:"variable"`
	Current   int    `json:"current"`
	Requested int    `json:"requested"`
}

func (e *RemovingWorkersError) Error() string {
	return fmt.Sprintf("nodes: %s %d -> %d removes %d worker(s): drain them first (Drain), then lower the count deliberately; AddWorker only adds",
		e.Variable, e.Current, e.Requested, e.Current-e.Requested)
}

// Is reports ErrRemovingWorkers.
func (e *RemovingWorkersError) Is(target error) bool { return target == ErrRemovingWorkers }

// ReplacementError: the Terraform plan destroys or replaces existing
// resources, by address.
type ReplacementError struct {
	Replace []string `json:"replace,omitempty"`
	Destroy []string `json:"destroy,omitempty"`
	// TypeChange is "cpx32 -> cpx42" when the request changes the server
	// type, the usual reason existing workers are replaced.
	TypeChange string `json:"typeChange,omitempty"`
}

func (e *ReplacementError) Error() string {
	var parts []string
	if len(e.Replace) > 0 {
		parts = append(parts, "replaces "+strings.Join(e.Replace, ", "))
	}
	if len(e.Destroy) > 0 {
		parts = append(parts, "destroys "+strings.Join(e.Destroy, ", "))
	}
	msg := "nodes: the Terraform plan " + strings.Join(parts, " and ")
	if e.TypeChange != "" {
		msg += " (server type " + e.TypeChange + ")"
	}
	return msg
}

// Is reports ErrReplacement.
func (e *ReplacementError) Is(target error) bool { return target == ErrReplacement }

// ClusterBackup is what a destroy plan says of one CloudNativePG cluster's
// backups.
type ClusterBackup struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Method is barmanObjectStore, volumeSnapshot, a plugin's name, or ""
	// when the cluster has no backup configured.
	Method string `json:"method,omitempty"`
	// LastSuccessful is status.lastSuccessfulBackup, "" when none.
	LastSuccessful string `json:"lastSuccessful,omitempty"`
}

func (b ClusterBackup) String() string {
	method, last := b.Method, b.LastSuccessful
	if method == "" {
		method = "no backup method"
	}
	if last == "" {
		last = "never"
	}
	return fmt.Sprintf("%s/%s: %s, last successful backup %s", b.Namespace, b.Name, method, last)
}

// BackupsUnconfirmedError: Destroy without ConfirmBackups.
type BackupsUnconfirmedError struct {
	Clusters []ClusterBackup `json:"clusters"`
}

func (e *BackupsUnconfirmedError) Error() string {
	msg := "nodes: destroying the cluster loses every volume: confirm backups (Destroy.ConfirmBackups)"
	if len(e.Clusters) > 0 {
		var cs []string
		for _, c := range e.Clusters {
			cs = append(cs, c.String())
		}
		msg += "; CloudNativePG clusters: " + strings.Join(cs, "; ")
	}
	return msg
}

// Is reports ErrBackupsUnconfirmed.
func (e *BackupsUnconfirmedError) Is(target error) bool { return target == ErrBackupsUnconfirmed }
