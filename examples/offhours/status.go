package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironflow/scaling"
)

// StatusConfigMap is the ConfigMap, in each scheduled namespace, where the
// controller records per release what it did and what to restore. It is
// the controller's memory: edges it acted on are never acted on again, and
// the morning's counts survive a restart of the controller.
const StatusConfigMap = "offhours-status"

// States of a release.
const (
	// StateOn: running as its owners set it (or the controller never
	// scaled it down).
	StateOn = "on"
	// StateScalingDown: the controller recorded the counts and is scaling
	// the release down; a restart finds the counts recorded.
	StateScalingDown = "scaling-down"
	// StateOff: scaled down by the controller until OffUntil.
	StateOff = "off"
)

// releaseStatus is one release's record in the status ConfigMap.
type releaseStatus struct {
	Schedule string `json:"schedule"`
	State    string `json:"state"`
	// Edge is the last window edge acted on: an off window's start
	// (scale-down) or its end (restore). A reconcile never acts on an
	// edge twice, whatever its outcome: a blocked or failed scale-down
	// waits for the next edge and a person, it is not retried.
	Edge time.Time `json:"edge,omitzero"`
	// OffUntil is the end of the off window the release was scaled down
	// for: the restore edge.
	OffUntil time.Time `json:"offUntil,omitzero"`
	// Recorded is what the morning restores.
	Recorded *recorded `json:"recorded,omitempty"`
	// Last is the outcome of the last action.
	Last *outcome `json:"last,omitempty"`
}

// recorded is a release's scale before the controller scaled it down.
type recorded struct {
	Workload scaling.ObjectRef `json:"workload"`
	Replicas int32             `json:"replicas"`
	// HPA is the release's autoscaler bounds, when it has one: the
	// restore gives the HPA its minimum back rather than pinning a count.
	HPA *hpaBounds `json:"hpa,omitempty"`
	At  time.Time  `json:"at"`
}

type hpaBounds struct {
	Name        string `json:"name"`
	MinReplicas int32  `json:"minReplicas"`
	MaxReplicas int32  `json:"maxReplicas"`
}

// outcome is one action's result as people read it in the status.
type outcome struct {
	Action string    `json:"action"`
	Edge   time.Time `json:"edge"`
	// Phase is the Verification's phase (Succeeded, Failed, TimedOut),
	// or Blocked (a guard refused the plan: nothing was written), NoOp
	// (nothing to change) or Error (planning or applying failed).
	Phase   string    `json:"phase"`
	Summary string    `json:"summary,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// statusStore reads and writes the status ConfigMap of one namespace. It
// reads from the API server, not the cache: the cache holds only the
// ConfigMaps that carry schedules, and a record must be the latest.
type statusStore struct {
	w  client.Writer
	ns string
	cm *corev1.ConfigMap
}

func loadStatus(ctx context.Context, r client.Reader, w client.Writer, ns string) (*statusStore, error) {
	s := &statusStore{w: w, ns: ns, cm: &corev1.ConfigMap{}}
	err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: StatusConfigMap}, s.cm)
	switch {
	case apierrors.IsNotFound(err):
		s.cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: StatusConfigMap,
			Labels: map[string]string{"app.kubernetes.io/managed-by": controllerName}}}
	case err != nil:
		return nil, fmt.Errorf("reading %s/%s: %w", ns, StatusConfigMap, err)
	}
	return s, nil
}

// get is the release's record; a release never seen is on.
func (s *statusStore) get(release string) (releaseStatus, error) {
	raw, ok := s.cm.Data[release]
	if !ok {
		return releaseStatus{State: StateOn}, nil
	}
	var st releaseStatus
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return releaseStatus{}, fmt.Errorf("%s/%s key %s is not a status record: %w", s.ns, StatusConfigMap, release, err)
	}
	return st, nil
}

// put writes the release's record at once: what the controller is about
// to do is recorded before it does it.
func (s *statusStore) put(ctx context.Context, release string, st releaseStatus) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if s.cm.Data == nil {
		s.cm.Data = map[string]string{}
	}
	s.cm.Data[release] = string(data)
	if s.cm.ResourceVersion == "" {
		err = s.w.Create(ctx, s.cm)
	} else {
		err = s.w.Update(ctx, s.cm)
	}
	if err != nil {
		return fmt.Errorf("recording %s's status in %s/%s: %w", release, s.ns, StatusConfigMap, err)
	}
	return nil
}
