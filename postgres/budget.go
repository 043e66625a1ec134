// Package postgres operates PostgreSQL clusters run by CloudNativePG the
// way the runbook's PostgreSQL sections do by hand.
//
// It holds, for now, the connection budget: the arithmetic every operation
// that changes how many clients a database serves must agree on (scale's
// connection-budget guard calls it). The CloudNativePG operations follow on
// the same operation kit.
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
// holds at its peak, against what the server allows. During a rolling
// update the old and the surge pods hold pools at once, so the peak is
// (Replicas + Surge) x Pool + Others.
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
}

// Peak is the most connections the pods and the others hold at once.
// It is computed in int64 from the int32 counts, so no count a Deployment
// can have wraps it around.
func (b Budget) Peak() int64 { return (int64(b.Replicas)+int64(b.Surge))*b.Pool + b.Others }

// Usable is what the server leaves to applications.
func (b Budget) Usable() int64 { return int64(b.MaxConnections - b.Reserved) }

// Fits reports whether the peak stays within what the server leaves.
func (b Budget) Fits() bool { return b.Peak() <= b.Usable() }

// String shows the arithmetic, for a guard's reason.
func (b Budget) String() string {
	return fmt.Sprintf("(%d replicas + %d surge) x pool %d + %d others = %d connections; max_connections %d - %d reserved = %d",
		b.Replicas, b.Surge, b.Pool, b.Others, b.Peak(), b.MaxConnections, b.Reserved, b.Usable())
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
