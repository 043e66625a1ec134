// Package postgres operates PostgreSQL clusters run by CloudNativePG the
// way the runbook's PostgreSQL sections do by hand.
//
// It holds, for now, the connection budget: the arithmetic every operation
// that changes how many clients a database serves must agree on, directly
// or through a PgBouncer Pooler (scale's connection-budget guard calls it).
// The CloudNativePG operations (issue 12: Switchover, Drain, Instances,
// Pooler, Parameters, ExpandStorage) follow on the same operation kit.
package postgres

import (
	"fmt"
	"strconv"
)

// Defaults of a Budget, PostgreSQL's own.
const (
	// DefaultMaxConnections is PostgreSQL's max_connections when a cluster
	// sets none.
	DefaultMaxConnections = 100
	// DefaultReserved is superuser_reserved_connections (3) plus
	// reserved_connections (0), PostgreSQL's defaults.
	DefaultReserved = 3
)

// Budget is how many server connections a set of pods with connection pools
// holds at its peak, against what the server allows: Fluxbase's
// max_connections >= pods x per-pod pool + buffer, with the rolling update
// counted. During a rolling update the old and the surge pods hold pools at
// once, so without a pooler the peak is (Replicas + Surge) x Pool + Others.
//
// With a PgBouncer Pooler in front (Pooler set), the app's pods hold client
// connections to PgBouncer and PgBouncer holds the server connections:
// (pooler instances + its surge) x (default_pool_size + reserve_pool_size)
// per user/database pair. The clients must then fit in what PgBouncer
// accepts, instances x max_client_conn, or it refuses the excess; a pooler
// that "fronts the database" is not a pass by itself (real incidents:
// poolers whose instances x pool exceeded max_connections).
//
// Replicas is the most pods the workload runs: the HPA's maxReplicas when
// an HPA owns the count, not the current one.
type Budget struct {
	// Replicas are the pods at steady state; Surge the extra pods a rolling
	// update runs at once.
	Replicas, Surge int32
	// Pool is each pod's connection pool size; Others the connections held
	// by other clients (jobs, admin tools).
	Pool, Others int64
	// MaxConnections is the server's max_connections; Reserved the
	// connections applications cannot use.
	MaxConnections, Reserved int
	// Pooler is the PgBouncer Pooler of type rw the pods connect through;
	// nil when they connect to PostgreSQL directly.
	Pooler *Pooler
}

// Pooler is what a CloudNativePG Pooler (PgBouncer) asks of the server and
// offers its clients. Zero fields are PgBouncer's and CloudNativePG's
// defaults (DefaultPoolerInstances, DefaultPoolSize, DefaultMaxClientConn,
// one user/database pair, no reserve).
type Pooler struct {
	Name string
	// Instances are the PgBouncer pods; Surge the extra ones its own
	// rolling update runs.
	Instances, Surge int32
	// DefaultPoolSize and ReservePoolSize are PgBouncer's
	// default_pool_size and reserve_pool_size: server connections per
	// user/database pair and instance.
	DefaultPoolSize, ReservePoolSize int64
	// MaxClientConn is PgBouncer's max_client_conn per instance.
	MaxClientConn int64
	// Pairs are the user/database pairs the clients use.
	Pairs int
}

// PgBouncer's and CloudNativePG's defaults for a Pooler.
const (
	DefaultPoolerInstances = 1
	DefaultPoolSize        = 20
	DefaultMaxClientConn   = 100
)

func (p Pooler) withDefaults() Pooler {
	if p.Instances == 0 {
		p.Instances = DefaultPoolerInstances
	}
	if p.DefaultPoolSize == 0 {
		p.DefaultPoolSize = DefaultPoolSize
	}
	if p.MaxClientConn == 0 {
		p.MaxClientConn = DefaultMaxClientConn
	}
	if p.Pairs == 0 {
		p.Pairs = 1
	}
	return p
}

// Peak is the most server connections held at once: the pods' pools, or
// the pooler's, and the others'. It is computed in int64 from the int32
// counts, so no count a Deployment can have wraps it around.
func (b Budget) Peak() int64 {
	if b.Pooler != nil {
		p := b.Pooler.withDefaults()
		return (int64(p.Instances)+int64(p.Surge))*(p.DefaultPoolSize+p.ReservePoolSize)*int64(p.Pairs) + b.Others
	}
	return b.clients() + b.Others
}

// clients are the connections the pods hold at the peak of their rollout.
func (b Budget) clients() int64 { return (int64(b.Replicas) + int64(b.Surge)) * b.Pool }

// ClientLimit is how many client connections the pooler accepts
// (instances x max_client_conn); 0 without a pooler.
func (b Budget) ClientLimit() int64 {
	if b.Pooler == nil {
		return 0
	}
	p := b.Pooler.withDefaults()
	return int64(p.Instances) * p.MaxClientConn
}

// Usable is what the server leaves to applications.
func (b Budget) Usable() int64 { return int64(b.MaxConnections - b.Reserved) }

// Fits reports whether the peak stays within what the server leaves and,
// behind a pooler, the pods' connections within what it accepts.
func (b Budget) Fits() bool {
	return b.Peak() <= b.Usable() && (b.Pooler == nil || b.clients() <= b.ClientLimit())
}

// Recommended is the smallest max_connections that holds the peak: the
// peak plus the reserved connections. Raising max_connections does not
// help pods a pooler refuses; that takes max_client_conn or instances.
func (b Budget) Recommended() int64 { return b.Peak() + int64(b.Reserved) }

// String shows the arithmetic, for a guard's reason.
func (b Budget) String() string {
	server := fmt.Sprintf("max_connections %d - %d reserved = %d", b.MaxConnections, b.Reserved, b.Usable())
	if b.Pooler == nil {
		return fmt.Sprintf("(%d replicas + %d surge) x pool %d + %d others = %d connections; %s",
			b.Replicas, b.Surge, b.Pool, b.Others, b.Peak(), server)
	}
	p := b.Pooler.withDefaults()
	return fmt.Sprintf("Pooler %s: (%d instances + %d surge) x (default_pool_size %d + reserve %d) x %d user/db pairs + %d others = %d server connections; %s; "+
		"clients (%d replicas + %d surge) x pool %d = %d, PgBouncer accepts %d instances x max_client_conn %d = %d",
		p.Name, p.Instances, p.Surge, p.DefaultPoolSize, p.ReservePoolSize, p.Pairs, b.Others, b.Peak(), server,
		b.Replicas, b.Surge, b.Pool, b.clients(), p.Instances, p.MaxClientConn, b.ClientLimit())
}

// PoolerOf reads a CloudNativePG Pooler's content (as rendered or read
// back): spec.instances and the PgBouncer parameters default_pool_size,
// reserve_pool_size and max_client_conn (strings there, as in
// pgbouncer.ini). A parameter that is set and not a number is an error;
// unset ones keep their defaults.
func PoolerOf(obj map[string]any) (*Pooler, error) {
	p := &Pooler{}
	meta, _ := obj["metadata"].(map[string]any)
	p.Name, _ = meta["name"].(string)
	spec, _ := obj["spec"].(map[string]any)
	switch n := spec["instances"].(type) {
	case nil:
	case int64:
		p.Instances = int32(n)
	case float64:
		p.Instances = int32(n)
	case int:
		p.Instances = int32(n)
	default:
		return nil, fmt.Errorf("Pooler %s: spec.instances %v is not a number", p.Name, n)
	}
	bouncer, _ := spec["pgbouncer"].(map[string]any)
	params, _ := bouncer["parameters"].(map[string]any)
	for key, into := range map[string]*int64{"default_pool_size": &p.DefaultPoolSize, "reserve_pool_size": &p.ReservePoolSize, "max_client_conn": &p.MaxClientConn} {
		v, set := params[key]
		if !set {
			continue
		}
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("Pooler %s: PgBouncer parameter %s %q is not a count", p.Name, key, fmt.Sprint(v))
		}
		*into = n
	}
	return p, nil
}

// MaxConnections reads max_connections from a CloudNativePG Cluster's
// content (spec.postgresql.parameters.max_connections, a string there as in
// postgresql.conf). ok is false when it is unset or not a number.
func MaxConnections(cluster map[string]any) (n int, ok bool) {
	var cur any = cluster
	for _, k := range []string{"spec", "postgresql", "parameters", "max_connections"} {
		m, isMap := cur.(map[string]any)
		if !isMap {
			return 0, false
		}
		cur = m[k]
	}
	s, isString := cur.(string)
	if !isString {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
