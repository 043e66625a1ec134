package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// LSN is a PostgreSQL write-ahead log position ("16/B374D848" in text).
// The difference of two is a byte count.
type LSN uint64

// ParseLSN reads the text form. The empty string is LSN 0 (an instance
// that reports none).
func ParseLSN(s string) (LSN, error) {
	if s == "" {
		return 0, nil
	}
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("LSN %q: want two hex numbers separated by /", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF) }

// UnmarshalJSON reads the text form CloudNativePG's instance manager sends.
func (l *LSN) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseLSN(s)
	*l = v
	return err
}

// MarshalJSON writes the text form.
func (l LSN) MarshalJSON() ([]byte, error) { return json.Marshal(l.String()) }

// Behind returns how many bytes l is behind ahead, 0 when it is not.
func (l LSN) Behind(ahead LSN) int64 {
	if l >= ahead {
		return 0
	}
	return int64(ahead - l)
}

// InstanceStatus is what an instance's manager reports about its
// PostgreSQL (CloudNativePG's GET /pg/status on port 8000), the part a
// switchover is decided on.
type InstanceStatus struct {
	Pod       string `json:"-"`
	IsPrimary bool   `json:"isPrimary"`
	// CurrentLSN is the primary's write position; ReceivedLSN and
	// ReplayLSN a replica's received and replayed positions.
	CurrentLSN  LSN `json:"currentLsn"`
	ReceivedLSN LSN `json:"receivedLsn"`
	ReplayLSN   LSN `json:"replayLsn"`
	// WALReceiverActive says the replica streams from the primary;
	// ReplayPaused that its replay is paused (pg_wal_replay_pause()).
	WALReceiverActive bool `json:"isWalReceiverActive"`
	ReplayPaused      bool `json:"replayPaused"`
	PendingRestart    bool `json:"pendingRestart"`
	TimeLineID        int  `json:"timeLineID"`
}

// Instances reads an instance's status. The default, PodProxy, reads it the
// way `kubectl cnpg status` does; tests and tools substitute their own.
type Instances interface {
	Status(ctx context.Context, pod *corev1.Pod) (*InstanceStatus, error)
}

// PodProxy reads an instance's status through the API server's pod proxy:
// GET pods/<scheme>:<pod>:8000/proxy/pg/status, https when the postgres
// container runs with --status-port-tls (CloudNativePG's default for new
// instances). It needs RBAC get on pods/proxy.
type PodProxy struct {
	Kube kubernetes.Interface
}

// StatusPort is the instance manager's status port.
const StatusPort = "8000"

// Status implements Instances.
func (p PodProxy) Status(ctx context.Context, pod *corev1.Pod) (*InstanceStatus, error) {
	raw, err := p.Kube.CoreV1().Pods(pod.Namespace).ProxyGet(statusScheme(pod), pod.Name, StatusPort, "/pg/status", nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the status of instance %s: %w", pod.Name, err)
	}
	var st InstanceStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("the status of instance %s: %w", pod.Name, err)
	}
	st.Pod = pod.Name
	return &st, nil
}

func statusScheme(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == "postgres" && slices.Contains(c.Command, "--status-port-tls") {
			return "https"
		}
	}
	return "http"
}
