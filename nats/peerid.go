package nats

import (
	"crypto/sha256"
	"strings"
)

// PeerID is the Raft peer ID nats-server gives a server: the first eight
// base-62 digits of the sha256 of its name (the server's "node" hash, the
// one its $SYS subjects carry; nats-server keeps its length fixed so that
// it never changes). Once the other servers forget a departed server's name
// (its routes are gone after a config reload), JetStream lists it only as
// "Server name unknown at this time (peerID: <id>)"; computing the ID from
// the name the StatefulSet's ordinal gives is how a plan still finds it.
// `nats server report jetstream` shows such a peer the same way; PeerID
// tells which server it was.
func PeerID(server string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(server))
	var b strings.Builder
	for _, x := range sum[:8] {
		b.WriteByte(digits[int(x)%len(digits)])
	}
	return b.String()
}

// resolveNames gives back their names to the peers the servers list as
// unknown, among the candidate server names, in the meta group and in
// every stream's placement.
func (r *Report) resolveNames(candidates []string) {
	byID := make(map[string]string, len(candidates))
	for _, n := range candidates {
		byID[PeerID(n)] = n
	}
	name := func(n string) string {
		const unknown = "(peerID: "
		if i := strings.Index(n, unknown); i >= 0 && strings.HasSuffix(n, ")") {
			if known, ok := byID[n[i+len(unknown):len(n)-1]]; ok {
				return known
			}
		}
		return n
	}
	for i := range r.Meta.Peers {
		p := &r.Meta.Peers[i]
		if known, ok := byID[p.ID]; ok {
			p.Name = known
		}
		p.Name = name(p.Name)
	}
	for i := range r.Streams {
		s := &r.Streams[i]
		for j := range s.Peers {
			s.Peers[j] = name(s.Peers[j])
		}
		for j := range s.Lagging {
			s.Lagging[j] = name(s.Lagging[j])
		}
	}
}
