package helmrelease

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ironflow/scaling/internal/kubecache"
)

// restGetter hands Helm the caller's *rest.Config instead of letting it load
// a kubeconfig of its own, so Helm talks to the same cluster through the same
// transport (and request recorder) as every other client.
//
// Discovery is the cluster's cached client, so the RESTMapper of every
// action (a new one each time Helm asks, they are cheap) and the OpenAPI
// documents behind its validator are read once per cluster.
type restGetter struct {
	cfg       *rest.Config
	namespace string
	disco     *kubecache.Discovery
}

func newRESTGetter(cfg *rest.Config, namespace string, disco *kubecache.Discovery) *restGetter {
	return &restGetter{cfg: cfg, namespace: namespace, disco: disco}
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.disco, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	return restmapper.NewDeferredDiscoveryRESTMapper(g.disco), nil
}

// ToRawKubeConfigLoader is only asked for the default namespace.
func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.NewConfig()
	cfg.Contexts["scaling"] = &clientcmdapi.Context{Namespace: g.namespace}
	cfg.CurrentContext = "scaling"
	return clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{})
}
