// Report (this file) is the reading an operator does before scaling:
// storage per server, the meta group, and where each stream's replicas live.

package nats

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Report is the JetStream state of a cluster.
type Report struct {
	Meta    MetaGroup      `json:"meta"`
	Servers []ServerUsage  `json:"servers"`
	Streams []StreamReport `json:"streams"`
	// Warnings are the findings an operator should read before scaling.
	Warnings []string `json:"warnings,omitempty"`
	// unanswered are servers that answered without JetStream data.
	unanswered []string
	TakenAt    time.Time `json:"takenAt"`
}

// MetaGroup is the JetStream meta group: the Raft group every server of the
// cluster belongs to, which must keep a quorum.
type MetaGroup struct {
	Leader       string `json:"leader"`
	Size         int    `json:"size"`
	QuorumNeeded int    `json:"quorumNeeded"`
	Peers        []Peer `json:"peers"`
}

// Peer is one member of a Raft group as its leader sees it.
type Peer struct {
	Name string `json:"name"`
	// ID is the server's Raft peer ID, which stays when the others forget
	// its name (a departed server is listed as "Server name unknown").
	ID      string `json:"id,omitempty"`
	Leader  bool   `json:"leader,omitempty"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
}

// ServerUsage is one server's JetStream storage and memory.
type ServerUsage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// StorageUsed and StorageReserved are bytes; StorageMax is the server's
	// max_file_store (0 when unlimited).
	StorageUsed, StorageReserved, StorageMax uint64
	MemoryUsed, MemoryReserved, MemoryMax    uint64
	// Streams is the number of stream replicas the server holds.
	Streams int `json:"streams"`
}

// StreamReport is where one stream's replicas live.
type StreamReport struct {
	Account  string `json:"account"`
	Name     string `json:"name"`
	Replicas int    `json:"replicas"`
	Leader   string `json:"leader"`
	// Peers are the servers holding a replica, leader first.
	Peers    []string `json:"peers"`
	Lagging  []string `json:"lagging,omitempty"`
	Messages uint64   `json:"messages"`
	Bytes    uint64   `json:"bytes"`
	// LastSeq is the last sequence each server holding a replica has
	// stored: a replica that is "current" in Raft terms may still be
	// copying messages, which only this shows.
	LastSeq map[string]uint64 `json:"lastSeq,omitempty"`
}

// StorageWarnPercent is the used/max storage share above which Report warns.
const StorageWarnPercent = 80

// Inspect reads the cluster through a system-account connection: one JSZ
// ping answered by every server (streams and accounts included). It returns
// as soon as every server the meta leader sees online has answered; window
// (default 1 s) bounds the wait for servers that do not, such as every server
// when the meta group has no leader. Without system-account access it
// returns a *SystemAccountError at once, not a timeout.
func Inspect(ctx context.Context, nc *natsgo.Conn, window time.Duration) (*Report, error) {
	if nc == nil {
		return nil, fmt.Errorf("nats: Inspect needs a connection")
	}
	if window <= 0 {
		window = time.Second
	}
	replies, err := pingJSZ(ctx, nc, jszOptions{Accounts: true, Streams: true, Config: true}, window)
	if err != nil {
		return nil, err
	}
	b := reportBuilder{r: &Report{TakenAt: time.Now().UTC()}, streams: map[string]*StreamReport{}, lastSeq: map[string]map[string]uint64{}}
	for _, rep := range replies {
		b.add(rep)
	}
	r := b.finish()
	r.Warnings = r.warnings()
	return r, nil
}

// reportBuilder assembles a Report from the servers' answers, in any order.
type reportBuilder struct {
	r       *Report
	streams map[string]*StreamReport
	// lastSeq is each stream's last sequence on each server that holds it.
	lastSeq map[string]map[string]uint64
}

// add takes one server's answer: its usage, the meta group when it leads
// it, and its streams.
func (b *reportBuilder) add(rep jszResponse) {
	r := b.r
	if rep.Error != nil || rep.Data == nil {
		r.unanswered = append(r.unanswered, rep.Server.Name)
		return
	}
	d := rep.Data
	r.Servers = append(r.Servers, ServerUsage{
		Name: rep.Server.Name, Version: rep.Server.Version,
		StorageUsed: d.Store, StorageReserved: d.ReservedStore, StorageMax: uint64(max(d.Config.MaxStore, 0)),
		MemoryUsed: d.Memory, MemoryReserved: d.ReservedMemory, MemoryMax: uint64(max(d.Config.MaxMemory, 0)),
		Streams: d.Streams,
	})
	if m := d.Meta; m != nil && r.Meta.Leader == "" && m.Size > r.Meta.Size {
		// Without a leader, the followers' view is all there is.
		r.Meta.Size, r.Meta.QuorumNeeded = m.Size, m.QuorumNeeded
	}
	if m := d.Meta; m != nil && m.Leader == rep.Server.Name {
		r.Meta = MetaGroup{Leader: m.Leader, Size: m.Size, QuorumNeeded: m.QuorumNeeded, Peers: []Peer{{Name: m.Leader, ID: PeerID(m.Leader), Leader: true, Current: true}}}
		for _, p := range m.Replicas {
			r.Meta.Peers = append(r.Meta.Peers, Peer{Name: p.Name, ID: p.Peer, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
		}
	}
	for _, acc := range d.Accounts {
		for _, s := range acc.Streams {
			b.addStream(rep.Server.Name, acc.Name, s)
		}
	}
}

// addStream takes one server's view of a stream. Every replica's server
// reports the stream; the leader's view of its peers is the one to keep.
func (b *reportBuilder) addStream(server, account string, s streamDetail) {
	key := account + "/" + s.Name
	if b.lastSeq[key] == nil {
		b.lastSeq[key] = map[string]uint64{}
	}
	b.lastSeq[key][server] = s.State.LastSeq
	if s.Cluster == nil || (s.Cluster.Leader != server && b.streams[key] != nil) {
		return
	}
	sr := &StreamReport{Account: account, Name: s.Name, Leader: s.Cluster.Leader, Messages: s.State.Msgs, Bytes: s.State.Bytes}
	if s.Config != nil {
		sr.Replicas = s.Config.Replicas
	}
	if sr.Leader != "" {
		sr.Peers = append(sr.Peers, sr.Leader)
	}
	for _, p := range s.Cluster.Replicas {
		sr.Peers = append(sr.Peers, p.Name)
		if !p.Current || p.Offline {
			sr.Lagging = append(sr.Lagging, p.Name)
		}
	}
	b.streams[key] = sr
}

// finish fills what servers before 2.15 do not report and sorts.
func (b *reportBuilder) finish() *Report {
	r := b.r
	if r.Meta.QuorumNeeded == 0 && r.Meta.Size > 0 {
		r.Meta.QuorumNeeded = r.Meta.Size/2 + 1
	}
	sort.Slice(r.Servers, func(i, j int) bool { return r.Servers[i].Name < r.Servers[j].Name })
	for key, s := range b.streams {
		s.LastSeq = b.lastSeq[key]
		r.Streams = append(r.Streams, *s)
	}
	sort.Slice(r.Streams, func(i, j int) bool {
		return r.Streams[i].Account+"/"+r.Streams[i].Name < r.Streams[j].Account+"/"+r.Streams[j].Name
	})
	return r
}

// warnings are what `nats server report jetstream` would make a person
// look at twice, sorted.
func (r *Report) warnings() []string {
	var w []string
	for _, name := range r.unanswered {
		w = append(w, fmt.Sprintf("server %s answered without JetStream data", name))
	}
	if r.Meta.Leader == "" {
		w = append(w, "no server leads the JetStream meta group: the cluster has lost its quorum or is electing")
	}
	for _, p := range r.Meta.Peers {
		if p.Offline {
			w = append(w, fmt.Sprintf("meta peer %s is offline: one more failure may lose the quorum of %d", p.Name, r.Meta.QuorumNeeded))
		} else if !p.Current {
			w = append(w, fmt.Sprintf("meta peer %s is not current (lag %d)", p.Name, p.Lag))
		}
	}
	for _, s := range r.Servers {
		if s.StorageMax > 0 && s.StorageUsed*100 >= s.StorageMax*StorageWarnPercent {
			w = append(w, fmt.Sprintf("server %s uses %d%% of its JetStream storage", s.Name, s.StorageUsed*100/s.StorageMax))
		}
	}
	for _, s := range r.Streams {
		switch {
		case s.Leader == "":
			w = append(w, fmt.Sprintf("stream %s/%s has no leader", s.Account, s.Name))
		case s.Replicas > len(r.Servers):
			w = append(w, fmt.Sprintf("stream %s/%s wants %d replicas, %d servers answered", s.Account, s.Name, s.Replicas, len(r.Servers)))
		case s.Replicas == 1:
			w = append(w, fmt.Sprintf("stream %s/%s has one replica, on %s only: it goes if that server goes", s.Account, s.Name, s.Leader))
		}
	}
	sort.Strings(w)
	return w
}

// String renders the report like `nats server report jetstream`.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Meta group: leader %s, %d peers, quorum %d\n", orDash(r.Meta.Leader), r.Meta.Size, r.Meta.QuorumNeeded)
	for _, p := range r.Meta.Peers {
		fmt.Fprintf(&b, "  %-24s %s\n", p.Name, p.state())
	}
	b.WriteString("Servers:\n")
	for _, s := range r.Servers {
		fmt.Fprintf(&b, "  %-24s %-8s storage %s used / %s reserved / %s max, %d stream replicas\n",
			s.Name, s.Version, bytes(s.StorageUsed), bytes(s.StorageReserved), bytes(s.StorageMax), s.Streams)
	}
	b.WriteString("Streams:\n")
	for _, s := range r.Streams {
		fmt.Fprintf(&b, "  %-24s R%d on %s (leader %s), %d msgs, %s\n", s.Account+"/"+s.Name, s.Replicas, strings.Join(s.Peers, ","), orDash(s.Leader), s.Messages, bytes(s.Bytes))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "! %s\n", w)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Report is Inspect through the client's system-account connection, with
// the default gather window.
func (c *Client) Report(ctx context.Context) (*Report, error) {
	return Inspect(ctx, c.sys, 0)
}

// state is how the meta leader sees the peer: current, OFFLINE or lagging.
func (p Peer) state() string {
	switch {
	case p.Offline:
		return "OFFLINE"
	case !p.Current:
		return fmt.Sprintf("lagging %d", p.Lag)
	}
	return "current"
}
