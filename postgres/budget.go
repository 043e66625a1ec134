// Package postgres operates PostgreSQL clusters run by CloudNativePG the
// way the runbook's PostgreSQL sections do by hand, as typed operations on
// the same Plan -> Apply -> Verify kit as packages scale and nats.
//
// Switchover (switchover.go) changes the primary through the Cluster's
// status, as `kubectl cnpg promote` does. The release operations change
// the Cluster and its Pooler through the Helm release that renders them
// (one upgrade each, with the plan's complete values): ExpandStorage
// (expand_storage.go, postgresql.persistence.size), ScaleInstances
// (scale_instances.go, postgresql.instances), ConfigurePooler (pooler.go,
// postgresql.pooler.*) and Parameters (parameters.go,
// postgresql.parameters). Apply and Verify take any plan of the package.
//
// The connection budget (ConnectionBudget, Budget) is the arithmetic every
// operation that changes how many clients a database serves must agree on,
// directly or through a PgBouncer Pooler: scale's connection-budget guard
// and ConfigurePooler's pooler-budget guard both call it.
package postgres

import (
	"fmt"
	"math"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	return b.Clients() + b.Others
}

// Clients are the connections the pods open at the peak of their rollout:
// the server's without a pooler, the pooler's clients behind one.
func (b Budget) Clients() int64 { return (int64(b.Replicas) + int64(b.Surge)) * b.Pool }

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
	return b.Peak() <= b.Usable() && (b.Pooler == nil || b.Clients() <= b.ClientLimit())
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
		b.Replicas, b.Surge, b.Pool, b.Clients(), p.Instances, p.MaxClientConn, b.ClientLimit())
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

// Connections is what a connection budget is computed from: the app's
// workload and its pools, the server, and the Pooler in front of it.
// ConnectionBudget turns it into a Budget with every default and source
// stated.
type Connections struct {
	// Replicas is the workload's count. When an HPA owns the count
	// (HPA set), its maxReplicas is used instead: the most pods the HPA may
	// run, each holding its pool, whatever the count is today.
	Replicas int32
	HPA      *HPALimit
	// Strategy is the workload's rollout strategy (a Deployment's); its
	// maxSurge pods hold pools next to the old ones during a rollout. Nil
	// counts no surge (a StatefulSet rolls one pod at a time).
	Strategy *appsv1.DeploymentStrategy
	// Pool is each pod's connection pool; Others the connections of other
	// clients (jobs, admin tools).
	Pool, Others int64
	// MaxConnections is the server's max_connections; 0 reads it from
	// Cluster (spec.postgresql.parameters.max_connections), else
	// PostgreSQL's DefaultMaxConnections.
	MaxConnections int
	// Reserved are the connections applications cannot use
	// (superuser_reserved_connections + reserved_connections); 0 means
	// DefaultReserved.
	Reserved int
	// Cluster is the CloudNativePG Cluster's content (rendered or live).
	Cluster map[string]any
	// ClusterName names it in the sources.
	ClusterName string
	// Pooler is the PgBouncer Pooler of type rw the pods connect through
	// (PoolerOf); nil when they connect to PostgreSQL directly.
	Pooler *Pooler
	// PoolerRollout counts the pooler's own rolling update: its maxSurge
	// PgBouncer pods hold their pools next to the old ones. PoolerStrategy
	// is the Pooler's spec.deploymentStrategy; nil is a Deployment's
	// default (25% surge).
	PoolerRollout  bool
	PoolerStrategy *appsv1.DeploymentStrategy
}

// HPALimit is the HorizontalPodAutoscaler that owns a workload's count.
type HPALimit struct {
	Name        string `json:"name"`
	MaxReplicas int32  `json:"maxReplicas"`
}

// BudgetReport is a computed connection budget: the Budget, where its
// counts come from, and its verdict.
type BudgetReport struct {
	Budget Budget `json:"budget"`
	// ReplicasSource says where Budget.Replicas comes from: "the
	// workload's count" or "HPA <name> maxReplicas".
	ReplicasSource string `json:"replicasSource"`
	// MaxConnectionsSource says where max_connections comes from: "stated
	// by the caller", "CNPG Cluster <name>" or "PostgreSQL's default".
	MaxConnectionsSource string `json:"maxConnectionsSource"`
	// Peak, Usable, ClientLimit and Recommended are Budget's numbers.
	Peak        int64 `json:"peak"`
	Usable      int64 `json:"usable"`
	ClientLimit int64 `json:"clientLimit,omitempty"`
	// Recommended is the smallest max_connections that holds Peak.
	Recommended int64 `json:"recommended"`
	Fits        bool  `json:"fits"`
}

// ConnectionBudget computes the budget of a set of pods with connection
// pools against the server: the HPA's maxReplicas instead of the count
// when an HPA owns it, the workload's rollout surge, the Pooler's pools
// (and its own surge when it rolls) and the reserved connections. It is
// the one implementation scale's connection-budget guard and
// ConfigurePooler's pooler-budget guard call. Negative counts are an
// error.
func ConnectionBudget(in Connections) (*BudgetReport, error) {
	switch {
	case in.Replicas < 0 || in.Pool < 0 || in.Others < 0 || in.MaxConnections < 0 || in.Reserved < 0:
		return nil, fmt.Errorf("postgres: a connection budget's counts must not be negative: %+v", in)
	case in.HPA != nil && in.HPA.MaxReplicas < 0:
		return nil, fmt.Errorf("postgres: HPA %s's maxReplicas %d is negative", in.HPA.Name, in.HPA.MaxReplicas)
	}
	r := &BudgetReport{ReplicasSource: "the workload's count"}
	b := Budget{Replicas: in.Replicas, Pool: in.Pool, Others: in.Others, MaxConnections: in.MaxConnections, Reserved: in.Reserved}
	if in.HPA != nil {
		b.Replicas, r.ReplicasSource = in.HPA.MaxReplicas, "HPA "+in.HPA.Name+" maxReplicas"
	}
	b.Surge = Surge(in.Strategy, b.Replicas)
	r.MaxConnectionsSource = "stated by the caller"
	if b.MaxConnections == 0 {
		b.MaxConnections, r.MaxConnectionsSource = DefaultMaxConnections, "PostgreSQL's default"
		if n, ok := MaxConnections(in.Cluster); ok {
			b.MaxConnections, r.MaxConnectionsSource = n, "CNPG Cluster "+in.ClusterName
		}
	}
	if b.Reserved == 0 {
		b.Reserved = DefaultReserved
	}
	if in.Pooler != nil {
		p := *in.Pooler
		p.Surge = 0
		if in.PoolerRollout {
			strategy := in.PoolerStrategy
			if strategy == nil {
				strategy = &appsv1.DeploymentStrategy{}
			}
			p.Surge = Surge(strategy, p.withDefaults().Instances)
		}
		b.Pooler = &p
	}
	r.Budget, r.Peak, r.Usable, r.ClientLimit, r.Recommended, r.Fits = b, b.Peak(), b.Usable(), b.ClientLimit(), b.Recommended(), b.Fits()
	return r, nil
}

// Surge is how many extra pods a Deployment's rolling update of replicas
// runs at once: maxSurge (25% by default, rounded up); none for Recreate or
// a nil strategy.
func Surge(s *appsv1.DeploymentStrategy, replicas int32) int32 {
	if s == nil || s.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	surge := intstr.FromString("25%")
	if s.RollingUpdate != nil && s.RollingUpdate.MaxSurge != nil {
		surge = *s.RollingUpdate.MaxSurge
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&surge, int(replicas), true)
	if err != nil {
		return int32(math.Ceil(float64(replicas) / 4))
	}
	return int32(n)
}
