package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// The JSON of the JetStream monitoring request ($SYS.REQ.SERVER.PING.JSZ),
// declared here rather than imported from nats-server, whose package would
// link a whole server into every program that inspects a cluster.
type (
	jszOptions struct {
		Accounts   bool `json:"accounts,omitempty"`
		Streams    bool `json:"streams,omitempty"`
		Config     bool `json:"config,omitempty"`
		LeaderOnly bool `json:"leader_only,omitempty"`
	}
	jszResponse struct {
		Server struct {
			Name    string `json:"name"`
			Version string `json:"ver"`
		} `json:"server"`
		Data  *jsInfo `json:"data"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	jsInfo struct {
		Memory         uint64 `json:"memory"`
		Store          uint64 `json:"storage"`
		ReservedMemory uint64 `json:"reserved_memory"`
		ReservedStore  uint64 `json:"reserved_storage"`
		Streams        int    `json:"streams"`
		Config         struct {
			MaxMemory int64 `json:"max_memory"`
			MaxStore  int64 `json:"max_storage"`
		} `json:"config"`
		Meta     *metaInfo `json:"meta_cluster"`
		Accounts []struct {
			Name    string         `json:"name"`
			Streams []streamDetail `json:"stream_detail"`
		} `json:"account_details"`
	}
	metaInfo struct {
		Name         string     `json:"name"`
		Leader       string     `json:"leader"`
		Replicas     []peerInfo `json:"replicas"`
		Size         int        `json:"cluster_size"`
		QuorumNeeded int        `json:"quorum_needed"`
	}
	peerInfo struct {
		Name    string        `json:"name"`
		Current bool          `json:"current"`
		Offline bool          `json:"offline"`
		Active  time.Duration `json:"active"`
		Lag     uint64        `json:"lag"`
		Peer    string        `json:"peer"`
	}
	streamDetail struct {
		Name    string `json:"name"`
		Cluster *struct {
			Leader   string     `json:"leader"`
			Replicas []peerInfo `json:"replicas"`
		} `json:"cluster"`
		Config *struct {
			Replicas int `json:"num_replicas"`
		} `json:"config"`
		State struct {
			Msgs    uint64 `json:"messages"`
			Bytes   uint64 `json:"bytes"`
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
	}
)

const jszSubject = "$SYS.REQ.SERVER.PING.JSZ"

// ErrNoSystemAccount: the connection is not in the system account, so the
// servers' monitoring subjects have no responder for it.
var ErrNoSystemAccount = errors.New("nats: the connection has no system-account access")

// SystemAccountError says which request went unanswered and what to give.
type SystemAccountError struct {
	Subject string
	Err     error
}

func (e *SystemAccountError) Error() string {
	return fmt.Sprintf("nats: no server answers %s on this connection (%v): connect with the system account's credentials (the $SYS/SYS account user)", e.Subject, e.Err)
}

// Is reports ErrNoSystemAccount.
func (e *SystemAccountError) Is(target error) bool { return target == ErrNoSystemAccount }

func (e *SystemAccountError) Unwrap() error { return e.Err }

// pingJSZ sends one JSZ ping and gathers replies until every server the meta
// leader knows to be online has answered, or the gather window closes. Outside the system account the
// server answers "no responders" at once, which becomes a
// *SystemAccountError instead of a timeout.
func pingJSZ(ctx context.Context, nc *natsgo.Conn, opts jszOptions, window time.Duration) ([]jszResponse, error) {
	payload, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	return ping(ctx, nc, jszSubject, payload, window, func(out []jszResponse) bool { return opts.LeaderOnly || allAnswered(out) })
}

// ping publishes one request to every server ($SYS.REQ.SERVER.PING.*) and
// gathers the replies until enough says so or the window closes. No reply
// at all is a *SystemAccountError: outside the system account nobody answers.
func ping[R any](ctx context.Context, nc *natsgo.Conn, subject string, payload []byte, window time.Duration, enough func([]R) bool) ([]R, error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishMsg(&natsgo.Msg{Subject: subject, Reply: inbox, Data: payload, Header: natsgo.Header{}}); err != nil {
		return nil, err
	}
	var out []R
	deadline := time.Now().Add(window)
	for {
		wait := time.Until(deadline)
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			wait = time.Until(d)
		}
		if wait <= 0 {
			break
		}
		msg, err := sub.NextMsg(wait)
		if errors.Is(err, natsgo.ErrTimeout) {
			break
		}
		if errors.Is(err, natsgo.ErrNoResponders) {
			return nil, &SystemAccountError{Subject: subject, Err: err}
		}
		if err != nil {
			return nil, err
		}
		var r R
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			return nil, fmt.Errorf("nats: decoding the reply to %s: %w", subject, err)
		}
		out = append(out, r)
		if enough(out) {
			break
		}
	}
	if len(out) == 0 {
		return nil, &SystemAccountError{Subject: subject, Err: context.DeadlineExceeded}
	}
	return out, nil
}

// allAnswered reports whether the replies include the meta leader's and one
// from each peer it sees online. A server without clustering answers alone.
func allAnswered(replies []jszResponse) bool {
	for _, r := range replies {
		if r.Data == nil {
			continue
		}
		m := r.Data.Meta
		if m == nil {
			return len(replies) == 1 // a single server without a cluster
		}
		if m.Leader != r.Server.Name {
			continue
		}
		online := 1
		for _, p := range m.Replicas {
			if !p.Offline {
				online++
			}
		}
		return len(replies) >= online
	}
	return false
}
