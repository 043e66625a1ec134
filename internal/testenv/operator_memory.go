package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
)

// MemoryBackend is a Backend without databases: each instance is a set of
// WAL positions a test moves (Write, Lag), reported in the instance
// manager's /pg/status shape. Tests of what the library reads and decides
// (lag ranking, guards, drains) use it where starting real servers would
// only cost time; the switchover's data path is PostgresBackend's.
type MemoryBackend struct {
	mu        sync.Mutex
	instances map[string]*memInstance
	poolers   map[string]MemoryPooler
	// Switchovers counts the switchovers the backend ran.
	Switchovers int
}

// MemoryPooler is a pooler's last state in a MemoryBackend.
type MemoryPooler struct {
	Cluster, Primary string
	Paused           bool
}

type memInstance struct {
	primary           bool
	current, received uint64
	replay            uint64
	paused, receiving bool
	timeline          int
	parameters        map[string]string
}

// NewMemoryBackend returns an empty MemoryBackend.
func NewMemoryBackend() *MemoryBackend {
	return &MemoryBackend{instances: map[string]*memInstance{}, poolers: map[string]MemoryPooler{}}
}

func memKey(namespace, name string) string { return namespace + "/" + name }

// StartInstance implements Backend.
func (m *MemoryBackend) StartInstance(_ context.Context, namespace, instance, primary string, parameters map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := &memInstance{primary: primary == "", timeline: 1, parameters: maps.Clone(parameters), receiving: primary != ""}
	if p, ok := m.instances[memKey(namespace, primary)]; ok {
		in.received, in.replay, in.timeline = p.current, p.current, p.timeline
	}
	in.current = 0x3000000
	m.instances[memKey(namespace, instance)] = in
	return nil
}

// StopInstance implements Backend.
func (m *MemoryBackend) StopInstance(_ context.Context, namespace, instance string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.instances, memKey(namespace, instance))
	return nil
}

// Switchover implements Backend: the target takes the positions of the
// primary on a new timeline, the others follow it.
func (m *MemoryBackend) Switchover(_ context.Context, namespace, cluster, from, to string, replicas []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok1 := m.instances[memKey(namespace, from)]
	tgt, ok2 := m.instances[memKey(namespace, to)]
	if !ok1 || !ok2 {
		return fmt.Errorf("memory backend: no instance %s or %s", from, to)
	}
	tgt.primary, tgt.receiving, tgt.paused = true, false, false
	tgt.current, tgt.timeline = old.current, old.timeline+1
	for _, r := range append([]string{from}, replicas...) {
		in := m.instances[memKey(namespace, r)]
		if in == nil {
			continue
		}
		in.primary, in.receiving, in.timeline = false, true, tgt.timeline
		in.received, in.replay = tgt.current, tgt.current
	}
	for k, p := range m.poolers {
		if p.Cluster == cluster {
			p.Primary = to
			m.poolers[k] = p
		}
	}
	m.Switchovers++
	return nil
}

// Configure implements Backend.
func (m *MemoryBackend) Configure(_ context.Context, namespace string, instances []string, parameters map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, i := range instances {
		if in := m.instances[memKey(namespace, i)]; in != nil {
			in.parameters = maps.Clone(parameters)
		}
	}
	return nil
}

// Write advances the primary's position by n bytes; replicas receive and
// replay them unless their replay is paused (Lag).
func (m *MemoryBackend) Write(namespace, primary string, n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.instances[memKey(namespace, primary)]
	if p == nil {
		return
	}
	p.current += n
	for k, in := range m.instances {
		if in.primary || k[:len(namespace)+1] != namespace+"/" {
			continue
		}
		in.received = p.current
		if !in.paused {
			in.replay = p.current
		}
	}
}

// Lag pauses or resumes an instance's replay, as pg_wal_replay_pause()
// and pg_wal_replay_resume() do; resuming replays what it received.
func (m *MemoryBackend) Lag(namespace, instance string, paused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in := m.instances[memKey(namespace, instance)]; in != nil {
		in.paused = paused
		if !paused {
			in.replay = in.received
		}
	}
}

// Status implements Backend.
func (m *MemoryBackend) Status(_ context.Context, namespace, instance string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.instances[memKey(namespace, instance)]
	if !ok {
		return nil, false, nil
	}
	doc := map[string]any{"isPrimary": in.primary, "timeLineID": in.timeline, "replayPaused": in.paused, "isWalReceiverActive": in.receiving, "pendingRestart": false}
	if in.primary {
		doc["currentLsn"] = lsn(in.current)
	} else {
		doc["receivedLsn"], doc["replayLsn"] = lsn(in.received), lsn(in.replay)
	}
	b, err := json.Marshal(doc)
	return b, true, err
}

func lsn(v uint64) string { return fmt.Sprintf("%X/%X", v>>32, v&0xFFFFFFFF) }

// Pooler implements Backend.
func (m *MemoryBackend) Pooler(_ context.Context, namespace, pooler, cluster, primary string, paused bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.poolers[memKey(namespace, pooler)] = MemoryPooler{Cluster: cluster, Primary: primary, Paused: paused}
	return nil
}

// RemovePooler implements Backend.
func (m *MemoryBackend) RemovePooler(_ context.Context, namespace, pooler string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.poolers, memKey(namespace, pooler))
	return nil
}

// PoolerState is a pooler's last state; ok false when none runs.
func (m *MemoryBackend) PoolerState(namespace, pooler string) (MemoryPooler, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.poolers[memKey(namespace, pooler)]
	return p, ok
}

// Parameters are an instance's last configured parameters.
func (m *MemoryBackend) Parameters(namespace, instance string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in := m.instances[memKey(namespace, instance)]; in != nil {
		return maps.Clone(in.parameters)
	}
	return nil
}
