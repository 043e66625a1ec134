package scaling

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ironflow/scaling/internal/kubecache"
)

// Cluster is a connection to one Kubernetes cluster, shared by the operation
// packages. Build it with Connect, or with NewCluster from a *rest.Config you
// already have.
type Cluster struct {
	// Config is the REST config every client of this cluster is built from
	// (Helm's included), so a transport wrapper set here sees every request.
	Config *rest.Config
	// Kube is the typed clientset. From Connect or NewCluster, its
	// Discovery() is cached in memory for the Cluster's life: the server
	// version, the API groups and resources, and the OpenAPI documents are
	// read once and shared by every client of this Cluster, Helm's
	// included (a resource it does not know makes a RESTMapper read
	// discovery again, so a CRD installed later is found).
	// Kube.Discovery().(discovery.CachedDiscoveryInterface).Invalidate()
	// forgets them.
	Kube kubernetes.Interface
	// Dynamic reads and writes custom resources (CloudNativePG's Cluster
	// and Pooler) without linking their operators. NewCluster sets it; a
	// Cluster built by hand without it (a fake clientset in a unit test)
	// cannot read them, and the operations that need them say so.
	Dynamic dynamic.Interface
	// Namespace is the kubeconfig context's namespace ("default" when unset
	// or in-cluster without a namespace file).
	Namespace string
}

// ConnectOptions says how to reach the cluster. The zero value loads the
// kubeconfig the way kubectl does ($KUBECONFIG, then ~/.kube/config) with its
// current context, and falls back to in-cluster config inside a pod.
type ConnectOptions struct {
	// Kubeconfig is a kubeconfig file path; empty means kubectl's defaults.
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current context.
	Context string
	// InCluster forces the pod's service-account config; Kubeconfig and
	// Context must then be empty.
	InCluster bool
	// WrapTransport wraps the HTTP transport of every client, e.g. to count
	// or log requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// QPS and Burst are client-go's client-side rate limit; 0 means
	// DefaultQPS and DefaultBurst.
	QPS   float32
	Burst int
}

// Connect's client-side rate limit when ConnectOptions leave it 0. client-go's
// own 5 requests/s (burst 10) would make an operation that reads one object
// per tenant, node or release wait on the client rather than the server: a
// tenants.Report over 50 tenants (52 requests) took 8.5 s under it, 0.5 s
// under these. The API server's priority and fairness is what protects it;
// NewCluster keeps whatever limit its config has.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// Connect builds a Cluster and checks that the API server answers (one GET
// /version), so a wrong context fails here rather than mid-plan. The
// version read is the one the Cluster's clients use afterwards.
func Connect(ctx context.Context, opts ConnectOptions) (*Cluster, error) {
	if opts.InCluster && (opts.Kubeconfig != "" || opts.Context != "") {
		return nil, &InvalidInputError{Field: "ConnectOptions.InCluster", Value: true, Reason: "cannot be combined with Kubeconfig or Context"}
	}
	if opts.QPS < 0 || opts.Burst < 0 {
		return nil, &InvalidInputError{Field: "ConnectOptions.QPS/Burst", Value: fmt.Sprintf("%v/%d", opts.QPS, opts.Burst), Reason: "must not be negative"}
	}
	var (
		cfg *rest.Config
		ns  = "default"
		err error
	)
	if opts.InCluster {
		cfg, err = rest.InClusterConfig()
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if opts.Kubeconfig != "" {
			rules.ExplicitPath = opts.Kubeconfig
		}
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
		cfg, err = loader.ClientConfig()
		if err == nil {
			if n, _, nsErr := loader.Namespace(); nsErr == nil && n != "" {
				ns = n
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("scaling: loading cluster config: %w", err)
	}
	cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	if opts.QPS > 0 {
		cfg.QPS = opts.QPS
	}
	if opts.Burst > 0 {
		cfg.Burst = opts.Burst
	}
	if opts.WrapTransport != nil {
		cfg.Wrap(opts.WrapTransport)
	}
	c, err := NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	c.Namespace = ns
	if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("scaling: API server at %s does not answer: %w", cfg.Host, err)
	}
	return c, nil
}

// NewCluster wraps an existing REST config without contacting the server.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	if cfg == nil {
		return nil, &InvalidInputError{Field: "rest.Config", Value: nil, Reason: "is required"}
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("scaling: building clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("scaling: building dynamic client: %w", err)
	}
	return &Cluster{Config: cfg, Kube: cachedClientset{Clientset: kube, disco: kubecache.New(kube.Discovery())}, Dynamic: dyn, Namespace: "default"}, nil
}

// cachedClientset is a clientset whose discovery client is cached, so that
// what the server says about itself is read once per Cluster rather than
// once per Helm action.
type cachedClientset struct {
	*kubernetes.Clientset
	disco *kubecache.Discovery
}

// Discovery returns the Cluster's shared cached discovery client.
func (c cachedClientset) Discovery() discovery.DiscoveryInterfaces { return c.disco }
