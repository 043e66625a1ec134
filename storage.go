package scaling

import (
	"errors"
	"fmt"
	"strings"
)

// GuardStorage is the guard every operation that grows volumes carries:
// the new size must fit in the namespace's storage quotas, the
// LimitRanges' maximum for a claim, and the largest volume the storage
// backend provisions.
const GuardStorage = "storage"

// ErrStorage: the volumes would not get the new size.
var ErrStorage = errors.New("scaling: the volumes cannot grow to that size")

// StorageError: growing Claims volumes of class Class to Size needs more
// than a limit allows, per limit. The API server refuses a claim above a
// quota or a LimitRange (halfway through a multi-step resize, after the
// first claims grew); a volume above the backend's maximum is accepted and
// then never provisioned or resized.
type StorageError struct {
	Namespace string             `json:"namespace"`
	Class     string             `json:"class"`
	Size      string             `json:"size"`
	Claims    int                `json:"claims"`
	Short     []StorageShortfall `json:"short"`
}

// StorageShortfall is one limit the growth exceeds. Of is "ResourceQuota",
// "LimitRange" or "volume maximum"; Name the object (empty for the
// maximum); Resource the quota key; Need what the growth asks of it and
// Have what it leaves (a quota's hard - used, a LimitRange's max, the
// maximum).
type StorageShortfall struct {
	Of       string `json:"of"`
	Name     string `json:"name,omitempty"`
	Resource string `json:"resource,omitempty"`
	Need     string `json:"need"`
	Have     string `json:"have"`
}

func (e *StorageError) Error() string {
	parts := make([]string, len(e.Short))
	for i, s := range e.Short {
		switch s.Of {
		case "ResourceQuota":
			parts[i] = fmt.Sprintf("growing %d claims to %s needs %s more %s, ResourceQuota %s leaves %s", e.Claims, e.Size, s.Need, s.Resource, s.Name, s.Have)
		case "LimitRange":
			parts[i] = fmt.Sprintf("a %s claim is above LimitRange %s's maximum of %s", s.Need, s.Name, s.Have)
		default:
			parts[i] = fmt.Sprintf("a %s volume is above the largest the storage backend provisions (%s)", s.Need, s.Have)
		}
	}
	return "scaling: " + strings.Join(parts, "; ")
}

// Is reports ErrStorage.
func (e *StorageError) Is(target error) bool { return target == ErrStorage }
