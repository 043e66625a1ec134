// Command offhours is the runbook's off-hours scale-down as a controller:
// it scales releases down on a weekly schedule and back up after, with
// the SDK's plans, guards and verification, and reports every outcome as a
// Kubernetes Event and in a status ConfigMap.
//
// Schedule a release with annotations on its namespace (or, for several
// releases in one namespace, with ConfigMaps labelled
// scaling.ironflow.io/off-hours; see config.go):
//
//	kubectl annotate namespace prod \
//	  scaling.ironflow.io/off-hours='Mon-Fri 20:00-07:00 Europe/Berlin' \
//	  scaling.ironflow.io/off-hours-release=ironflow \
//	  scaling.ironflow.io/off-hours-replicas=1
//
// At 20:00 the controller records the release's replica count (and its
// HPA's bounds) in ConfigMap offhours-status and runs scale.Down: Plan,
// Apply, Verify. At 07:00 it restores them (scale.Autoscale with the HPA's
// recorded minimum, or scale.Replicas with the count) the same way. It acts
// once per edge: a plan a guard blocks, or a verification that fails, is a
// Warning Event with the guard's words and waits for a person until the
// next edge; a person who scales the release back up at 22:00 is not
// overruled.
//
//	go run ./examples/offhours --chart ./examples/charts/ironflow
//
// It runs with leader election (several replicas, one acting) and needs
// the permissions of scale.Permissions() in the scheduled namespaces, plus
// namespaces get/list/watch, configmaps get/list/watch/create/update,
// events create, and leases in its own namespace.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	_ "time/tzdata" // schedules name IANA zones; images without zoneinfo still parse them

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "offhours:", err)
		os.Exit(1)
	}
}

// config is the controller's command line.
type config struct {
	kubeconfig, context     string
	leaderElect             bool
	leaderElectionNamespace string
	leaderElectionID        string
	chart                   scaling.ChartSource
	defaultRelease          string
	defaultReplicas         int
	verifyTimeout           time.Duration
	metrics, probes         string
}

func parseFlags(args []string, errOut io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("offhours", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)")
	fs.StringVar(&c.context, "context", "", "kubeconfig context")
	fs.BoolVar(&c.leaderElect, "leader-elect", true, "run with leader election, so that of several replicas one acts")
	fs.StringVar(&c.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the lease (default: the controller's own, in-cluster)")
	fs.StringVar(&c.leaderElectionID, "leader-election-id", "offhours.scaling.ironflow.io", "name of the lease")
	fs.StringVar(&c.chart.Ref, "chart", os.Getenv("SCALING_CHART"), "chart of the upgrades, as helm upgrade takes it (required for charts with subcharts; default $SCALING_CHART)")
	fs.StringVar(&c.chart.RepoURL, "chart-repo", "", "chart repository URL")
	fs.StringVar(&c.chart.Version, "chart-version", "", "chart version")
	fs.StringVar(&c.defaultRelease, "default-release", "", "release of a namespace annotation without "+AnnotationRelease)
	fs.IntVar(&c.defaultReplicas, "default-replicas", 1, "replicas off-hours when a schedule does not say")
	fs.DurationVar(&c.verifyTimeout, "verify-timeout", 0, "how long each Verify may watch (0: the SDK's default)")
	fs.StringVar(&c.metrics, "metrics-bind-address", "0", "metrics endpoint (0: off)")
	fs.StringVar(&c.probes, "health-probe-bind-address", ":8081", "health probes endpoint (0: off)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case c.defaultReplicas < 0:
		return nil, &scaling.InvalidInputError{Field: "--default-replicas", Value: c.defaultReplicas, Reason: "must be 0 or more"}
	case c.verifyTimeout < 0:
		return nil, &scaling.InvalidInputError{Field: "--verify-timeout", Value: c.verifyTimeout, Reason: "must not be negative"}
	case fs.NArg() > 0:
		return nil, &scaling.InvalidInputError{Field: "arguments", Value: fs.Args(), Reason: "takes none"}
	}
	return c, nil
}

func (c *config) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.context}).ClientConfig()
}

// run is the controller without the process. clk is the clock the
// schedules are read against (nil: the real one); tests pass a fake one.
func run(ctx context.Context, args []string, logOut io.Writer, clk clock.WithDelayedExecution) error {
	c, err := parseFlags(args, logOut)
	if err != nil {
		return err
	}
	cfg, err := c.restConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(logOut, nil))
	ctrl.SetLogger(log)
	mgr, err := newManager(cfg, c, log)
	if err != nil {
		return err
	}
	r, err := newReconciler(mgr, cfg, c, clk)
	if err != nil {
		return err
	}
	if err := setup(mgr, r); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

func newManager(cfg *rest.Config, c *config, log logr.Logger) (ctrl.Manager, error) {
	// The cache holds Namespaces and only the ConfigMaps that carry a
	// schedule, not every ConfigMap of the cluster.
	scheduled, err := labels.NewRequirement(LabelSchedule, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        clientgoscheme.Scheme,
		Logger:                        log,
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              c.leaderElectionID,
		LeaderElectionNamespace:       c.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: c.metrics},
		HealthProbeBindAddress:        c.probes,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Label: labels.NewSelector().Add(*scheduled)},
		}},
	})
}

func newReconciler(mgr ctrl.Manager, cfg *rest.Config, c *config, clk clock.WithDelayedExecution) (*Reconciler, error) {
	cluster, err := scaling.NewCluster(rest.CopyConfig(cfg))
	if err != nil {
		return nil, err
	}
	sc, err := scale.New(cluster, scale.Options{Chart: c.chart, VerifyTimeout: c.verifyTimeout})
	if err != nil {
		return nil, err
	}
	return &Reconciler{
		Cache: mgr.GetClient(), API: mgr.GetAPIReader(), Client: mgr.GetClient(),
		Scale: sc, Events: mgr.GetEventRecorder(controllerName), Clock: clk,
		Wake:           make(chan event.GenericEvent, 64),
		DefaultRelease: c.defaultRelease, DefaultReplicas: int32(c.defaultReplicas),
	}, nil
}

// setup registers the controller: namespaces (their annotations), the
// schedule ConfigMaps (as their namespace), and the edge timers.
func setup(mgr ctrl.Manager, r *Reconciler) error {
	if err := mgr.AddHealthzCheck("ping", func(*http.Request) error { return nil }); err != nil {
		return err
	}
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.GetNamespace()}}}
	})
	// The program runs one controller; the tests run one per manager in
	// one process, which the name check (for metrics) would refuse.
	skip := true
	return ctrl.NewControllerManagedBy(mgr).
		Named(controllerName).
		WithOptions(controller.Options{SkipNameValidation: &skip}).
		For(&corev1.Namespace{}, builder.WithPredicates(predicate.Or(predicate.AnnotationChangedPredicate{}, predicate.GenerationChangedPredicate{}))).
		Watches(&corev1.ConfigMap{}, toNamespace, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			_, ok := o.GetLabels()[LabelSchedule]
			return ok
		}))).
		WatchesRawSource(source.Channel(r.Wake, &handler.EnqueueRequestForObject{})).
		Complete(r)
}
