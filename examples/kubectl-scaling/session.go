package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"

	natsgo "github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/postgres"
	"github.com/ironflow/scaling/scale"
	"github.com/ironflow/scaling/tenants"
)

// session is one invocation's connection to the cluster: it builds the
// scaling.Cluster from kubectl's flags once and the operation clients from
// it, each reporting progress to the display the workflow sets.
type session struct {
	kube    *genericclioptions.ConfigFlags
	opts    *options
	streams streams

	once    sync.Once
	cluster *scaling.Cluster
	err     error

	mu   sync.Mutex
	sink func(scaling.Event)
	// closers release what the clients hold (NATS connections).
	closers []func()
	// natsClient is the one NATS client of the invocation: the tenants
	// client and the router both ask for it.
	natsClient *nats.Client

	// terraform is the nodes commands' --terraform.
	terraform string
	// tenantOpts are the tenants commands' naming flags.
	tenantOpts tenants.Options
}

// progress is the Progress every client gets: it forwards to the sink the
// workflow installs for the phase it runs (apply, verify), so one client
// serves both displays.
func (s *session) progress(e scaling.Event) {
	s.mu.Lock()
	sink := s.sink
	s.mu.Unlock()
	if sink != nil {
		sink(e)
	}
}

func (s *session) setSink(f func(scaling.Event)) {
	s.mu.Lock()
	s.sink = f
	s.mu.Unlock()
}

func (s *session) close() {
	for _, c := range s.closers {
		c()
	}
	s.closers, s.natsClient = nil, nil
}

// connect builds the Cluster from --kubeconfig, --context, --as and the
// rest of kubectl's flags, with the SDK's client-side rate limit (kubectl's
// own 5/s would make a report over many objects wait on the client), and
// checks the API server answers.
func (s *session) connect(ctx context.Context) (*scaling.Cluster, error) {
	s.once.Do(func() {
		cfg, err := s.kube.ToRESTConfig()
		if err != nil {
			s.err = fmt.Errorf("loading the kubeconfig: %w", err)
			return
		}
		cfg.QPS, cfg.Burst = scaling.DefaultQPS, scaling.DefaultBurst
		c, err := scaling.NewCluster(cfg)
		if err != nil {
			s.err = err
			return
		}
		if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
			s.err = fmt.Errorf("the API server at %s does not answer: %w", cfg.Host, err)
			return
		}
		c.Namespace = s.namespace()
		s.cluster = c
	})
	return s.cluster, s.err
}

// namespace is -n, else the kubeconfig context's namespace, else default.
func (s *session) namespace() string {
	ns, _, err := s.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

func (s *session) scale(ctx context.Context) (*scale.Client, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	return scale.New(c, scale.Options{Progress: s.progress, Chart: s.opts.chart, VerifyTimeout: s.opts.timeout})
}

func (s *session) postgres(ctx context.Context) (*postgres.Client, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	return postgres.New(c, s.postgresOptions(c))
}

func (s *session) postgresOptions(c *scaling.Cluster) postgres.Options {
	return postgres.Options{
		Progress:      s.progress,
		Chart:         s.opts.chart,
		VerifyTimeout: s.opts.timeout,
		Settings:      postgres.PSQL{Exec: podExec(c)},
	}
}

func (s *session) nodes(ctx context.Context) (*nodes.Client, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	return nodes.New(c, nodes.Options{Progress: s.progress, VerifyTimeout: s.opts.timeout, Terraform: s.terraform, Postgres: s.postgresOptions(c)})
}

func (s *session) tenants(ctx context.Context) (*tenants.Client, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	o := s.tenantOpts
	o.Progress, o.Chart, o.VerifyTimeout = s.progress, s.opts.chart, s.opts.timeout
	if s.opts.nats.URL != "" {
		// The tenant's NATS cluster is the one --nats-url names: one
		// invocation works on one tenant.
		o.NATS = func(string) (*nats.Client, error) { return s.nats(ctx) }
	}
	return tenants.New(c, o)
}

// nats connects to the NATS cluster --nats-url names, in the system account
// and (for re-replicating streams) the account --nats-account names.
func (s *session) nats(ctx context.Context) (*nats.Client, error) {
	if s.natsClient != nil {
		return s.natsClient, nil
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	sys, accounts, err := s.opts.nats.connect()
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, sys.Close)
	for _, nc := range accounts {
		s.closers = append(s.closers, nc.Close)
	}
	s.natsClient, err = nats.New(c, nats.Options{System: sys, Accounts: accounts, Progress: s.progress, Chart: s.opts.chart, VerifyTimeout: s.opts.timeout})
	return s.natsClient, err
}

// router applies and verifies a saved plan of any package. The NATS client
// needs a NATS connection, so it joins only for a NATS plan.
func (s *session) router(ctx context.Context, plan *scaling.Plan) (*scaling.Router, error) {
	sc, err := s.scale(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := s.postgres(ctx)
	if err != nil {
		return nil, err
	}
	nd, err := s.nodes(ctx)
	if err != nil {
		return nil, err
	}
	tn, err := s.tenants(ctx)
	if err != nil {
		return nil, err
	}
	ops := []scaling.Operator{sc, pg, nd, tn}
	if isNATSPlan(plan) {
		if s.opts.nats.URL == "" {
			return nil, &scaling.InvalidInputError{Field: "--nats-url", Value: "", Reason: fmt.Sprintf("a %s plan talks to the NATS cluster: give its URL and system-account credentials", plan.Operation)}
		}
		nc, err := s.nats(ctx)
		if err != nil {
			return nil, err
		}
		ops = append(ops, nc)
	}
	return scaling.NewRouter(ops...)
}

func isNATSPlan(p *scaling.Plan) bool {
	return p.Operation == nats.OpScaleCluster || p.Operation == nats.OpExpandStorage
}

// natsFlags say how to reach a NATS cluster. Passwords come from the
// environment by default, so they stay out of shell history and ps.
type natsFlags struct {
	URL            string
	SystemUser     string
	SystemPassword string
	SystemCreds    string
	Account        string
	AccountUser    string
	AccountPass    string
	AccountCreds   string
}

func (n *natsFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&n.URL, "nats-url", os.Getenv("SCALING_NATS_URL"), "NATS URL(s) of the cluster, comma-separated (default $SCALING_NATS_URL)")
	fs.StringVar(&n.SystemUser, "nats-system-user", "sys", "system-account user")
	fs.StringVar(&n.SystemPassword, "nats-system-password", os.Getenv("SCALING_NATS_SYSTEM_PASSWORD"), "system-account password (default $SCALING_NATS_SYSTEM_PASSWORD)")
	fs.StringVar(&n.SystemCreds, "nats-system-creds", "", "system-account credentials file (instead of user and password)")
	fs.StringVar(&n.Account, "nats-account", "APP", "account whose streams a plan may re-replicate")
	fs.StringVar(&n.AccountUser, "nats-account-user", "", "user in --nats-account")
	fs.StringVar(&n.AccountPass, "nats-account-password", os.Getenv("SCALING_NATS_ACCOUNT_PASSWORD"), "its password (default $SCALING_NATS_ACCOUNT_PASSWORD)")
	fs.StringVar(&n.AccountCreds, "nats-account-creds", "", "credentials file of --nats-account (instead of user and password)")
}

func (n *natsFlags) connect() (*natsgo.Conn, map[string]*natsgo.Conn, error) {
	if n.URL == "" {
		return nil, nil, &scaling.InvalidInputError{Field: "--nats-url", Value: "", Reason: "is required for NATS operations"}
	}
	quiet := natsgo.ErrorHandler(func(*natsgo.Conn, *natsgo.Subscription, error) {})
	auth := func(user, pass, creds string) natsgo.Option {
		if creds != "" {
			return natsgo.UserCredentials(creds)
		}
		return natsgo.UserInfo(user, pass)
	}
	sys, err := natsgo.Connect(n.URL, auth(n.SystemUser, n.SystemPassword, n.SystemCreds), quiet, natsgo.Name("kubectl-scaling"))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS at %s as %s: %w", n.URL, n.SystemUser, err)
	}
	accounts := map[string]*natsgo.Conn{}
	if n.AccountUser != "" || n.AccountCreds != "" {
		nc, err := natsgo.Connect(n.URL, auth(n.AccountUser, n.AccountPass, n.AccountCreds), quiet, natsgo.Name("kubectl-scaling"))
		if err != nil {
			sys.Close()
			return nil, nil, fmt.Errorf("connecting to NATS account %s: %w", n.Account, err)
		}
		accounts[n.Account] = nc
	}
	return sys, accounts, nil
}

// podExec runs a command in a pod's container over pods/exec, as `kubectl
// exec` does: what postgres.PSQL needs to read pg_settings.
func podExec(c *scaling.Cluster) func(ctx context.Context, pod *corev1.Pod, container string, command []string) (string, error) {
	return func(ctx context.Context, pod *corev1.Pod, container string, command []string) (string, error) {
		req := c.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		exec, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
		if err != nil {
			return "", err
		}
		var stdout, stderr bytes.Buffer
		if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
			return "", fmt.Errorf("exec in %s/%s: %w: %s", pod.Namespace, pod.Name, err, stderr.String())
		}
		return stdout.String(), nil
	}
}
