package scaling

import (
	"errors"
	"fmt"
	"strings"
)

// GuardCapacity is the guard every operation that adds pods carries: the
// schedulable nodes must be able to hold them.
const GuardCapacity = "capacity"

// ErrCapacity: the pods do not fit on the cluster's schedulable nodes.
var ErrCapacity = errors.New("scaling: the pods do not fit on the cluster's nodes")

// CapacityError: the pods need more than the schedulable nodes offer even
// if they ran nothing else ("Total"), or one pod more than the largest node
// ("Largest"), per resource.
type CapacityError struct {
	Nodes    int                 `json:"nodes"`
	Replicas int32               `json:"replicas"`
	Short    []CapacityShortfall `json:"short"`
}

// CapacityShortfall is one resource the pods need more of than the nodes
// have: Need is what the pods ask, Have what the nodes (Of "Total") or the
// largest node (Of "Largest") offer.
type CapacityShortfall struct {
	Of       string `json:"of"`
	Resource string `json:"resource"`
	Need     string `json:"need"`
	Have     string `json:"have"`
}

func (e *CapacityError) Error() string {
	parts := make([]string, len(e.Short))
	for i, s := range e.Short {
		switch s.Of {
		case "Largest":
			parts[i] = fmt.Sprintf("one pod needs %s %s, the largest node has %s", s.Need, s.Resource, s.Have)
		default:
			parts[i] = fmt.Sprintf("%d pods need %s %s, the %d schedulable nodes have %s", e.Replicas, s.Need, s.Resource, e.Nodes, s.Have)
		}
	}
	return "scaling: " + strings.Join(parts, "; ")
}

// Is reports ErrCapacity.
func (e *CapacityError) Is(target error) bool { return target == ErrCapacity }
