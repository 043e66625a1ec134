package postgres

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ironflow/scaling"
)

// poolerState is what a ConfigurePooler plan is decided on, read once.
type poolerState struct {
	cluster string
	// name is the planned Pooler's; before the deployed one (nil when the
	// release renders none yet).
	name          string
	before, after *unstructured.Unstructured
	// budget is the pooler's connection budget (ConnectionBudget).
	budget *BudgetReport
	// apps are the app Deployments that route through the pooler.
	apps []appRoute
	// rolls lists the apps whose pod template the upgrade changes.
	rolls []string
	// valueChanges: some value differs from the request.
	valueChanges bool
}

// appRoute is an app Deployment whose DB_HOST the chart points at the
// pooler: Verify checks that the live Deployment does.
type appRoute struct {
	Name   string `json:"name"`
	DBHost string `json:"dbHost"`
	// From is DB_HOST as deployed.
	From string `json:"from,omitempty"`
}

type poolerDecision struct {
	guards []scaling.GuardResult
	steps  []scaling.Step
	holds  bool
}

// decidePooler evaluates ConfigurePooler's guards; it reads nothing.
func decidePooler(t releaseTarget, st *poolerState) poolerDecision {
	var d poolerDecision
	if !st.valueChanges && st.before != nil && equality.Semantic.DeepEqual(st.before.Object["spec"], st.after.Object["spec"]) {
		d.holds = true
	}
	b := st.budget
	p := b.Budget.Pooler.withDefaults()
	if b.Fits {
		d.guards = append(d.guards, pass(GuardPoolerBudget, b.Budget.String()+" (max_connections: "+b.MaxConnectionsSource+")"))
	} else {
		cause := &PoolerBudgetError{Pooler: st.name, Instances: p.Instances, Surge: p.Surge, DefaultPoolSize: p.DefaultPoolSize, ReservePoolSize: p.ReservePoolSize, Pairs: p.Pairs,
			Others: b.Budget.Others, Peak: b.Peak, MaxConnections: b.Budget.MaxConnections, Reserved: b.Budget.Reserved, Usable: b.Usable, Source: b.MaxConnectionsSource,
			Recommended: b.Recommended, Clients: b.Budget.Clients(), ClientLimit: b.ClientLimit}
		remedy := fmt.Sprintf("raise max_connections to at least %d (%s), or lower the pooler's instances or default_pool_size", b.Recommended, t.value("maxConnections"))
		if b.Peak <= b.Usable {
			remedy = "raise the pooler's max_client_conn or instances, or lower the app's pool or replicas"
		}
		d.guards = append(d.guards, block(GuardPoolerBudget, cause, remedy))
	}
	if d.holds {
		return d
	}
	for _, a := range st.rolls {
		d.guards = append(d.guards, warn(GuardAppRollout, fmt.Sprintf("the upgrade changes Deployment %s's pod template (its DB_HOST): its pods roll", a),
			"apply when a rolling restart of the app is acceptable"))
	}
	for _, a := range st.apps {
		if a.From != a.DBHost {
			d.steps = append(d.steps, scaling.Step{Action: ActionRoute, Object: scaling.ObjectRef{Kind: "Deployment", Namespace: t.Namespace, Name: a.Name}, Field: "env DB_HOST",
				Before: orEmpty(a.From), After: a.DBHost, Note: "rendered by the upgrade: the app's new pods connect through the pooler"})
		}
	}
	d.steps = append(d.steps, scaling.Step{Action: ActionRollPooler, Object: scaling.ObjectRef{Kind: "Deployment", Namespace: t.Namespace, Name: st.name}, Field: "spec.replicas",
		After: fmt.Sprint(p.Instances), Note: fmt.Sprintf("done by the operator after the upgrade: PgBouncer's Deployment and Service %s (up to %d surge pods during its rollout)", st.name, p.Surge)})
	return d
}
