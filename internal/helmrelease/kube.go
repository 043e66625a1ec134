package helmrelease

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	helmkube "helm.sh/helm/v3/pkg/kube"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes/scheme"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
	"sigs.k8s.io/yaml"

	"github.com/ironflow/scaling/internal/kubecache"
)

// kubeClient is Helm's kube client with three changes, each keeping what a
// `helm upgrade` ends up doing and dropping requests that do not change it:
//
//   - IsReachable answers from the cluster's cached server version instead
//     of a GET /version per action (Helm reads the release from the same
//     server before it writes anything, so an unreachable server still
//     fails the action before any write);
//   - Build validates through a Validator whose field-validation answers are
//     cached per cluster (factory), and only the target's objects that the
//     deployed revision did not render the same way (the others were
//     accepted by the server at the last upgrade, and are not sent);
//   - Update leaves alone the objects the upgrade does not change (see
//     Update), unless fullUpdate is set.
type kubeClient struct {
	*helmkube.Client
	disco *kubecache.Discovery
	// fullUpdate makes Update Helm's own: every object of the target is
	// read and three-way patched. Set when the newest revision is not the
	// deployed one (a failed upgrade may have left objects anywhere).
	fullUpdate bool
	// original is the deployed revision's objects, as the upgrade built
	// them (unvalidated) before the target.
	original helmkube.ResourceList
}

func newKubeClient(g *restGetter, namespace string) *kubeClient {
	kc := helmkube.New(g)
	kc.Namespace = namespace
	kc.Log = discard
	kc.Factory = &factory{Factory: cmdutil.NewFactory(g), disco: g.disco}
	return &kubeClient{Client: kc, disco: g.disco}
}

// Build implements helmkube.Interface. Helm's upgrade builds the deployed
// manifest (without validation) and then the target (with it); the
// target's objects that render as the deployed ones did are not validated
// again: Update does not send them. On a release whose objects are all of
// Kubernetes' own kinds that costs no request; a CRD's kind changed by the
// upgrade is validated as Helm validates it.
func (k *kubeClient) Build(r io.Reader, validate bool) (helmkube.ResourceList, error) {
	if !validate {
		list, err := k.Client.Build(r, false)
		if err == nil {
			k.original = list
		}
		return list, err
	}
	if k.fullUpdate || k.original == nil {
		return k.Client.Build(r, true)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	list, err := k.Client.Build(bytes.NewReader(data), false)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, info := range list {
		if o := k.original.Get(info); o != nil && sameRendered(o, info) {
			continue
		}
		y, err := yaml.Marshal(info.Object)
		if err != nil {
			return nil, err
		}
		changed = append(changed, string(y))
	}
	if len(changed) > 0 {
		if _, err := k.Client.Build(strings.NewReader(strings.Join(changed, "\n---\n")), true); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// IsReachable implements helmkube.Interface with the cached server version.
func (k *kubeClient) IsReachable() error {
	if _, err := k.disco.ServerVersion(); err != nil {
		return fmt.Errorf("kubernetes cluster unreachable: %w", err)
	}
	return nil
}

// Update implements helmkube.Interface. Helm's Update reads every object of
// the target revision (twice, three times when nothing changed) and sends a
// three-way patch against the live object. This one hands Helm's Update
// only the objects whose rendered form differs between the deployed
// revision and the target, or that are new to the release; the others are
// neither read nor patched. Deletions stay Helm's: an object of the
// deployed revision that the target lacks is deleted as Helm deletes it.
//
// What that changes against `helm upgrade`: a field of an unchanged object
// that someone edited by hand stays as they left it (Helm would patch it
// back to the chart's value), and an unchanged object deleted by hand is
// not re-created. The release record is Helm's own either way.
func (k *kubeClient) Update(original, target helmkube.ResourceList, force bool) (*helmkube.Result, error) {
	if force || k.fullUpdate {
		return k.Client.Update(original, target, force)
	}
	var (
		changed helmkube.ResourceList
		skip    = map[*resource.Info]bool{}
	)
	for _, info := range target {
		if o := original.Get(info); o != nil && o != info && sameRendered(o, info) {
			skip[o] = true
			continue
		}
		changed = append(changed, info)
	}
	if len(skip) == 0 {
		return k.Client.Update(original, target, force)
	}
	var rest helmkube.ResourceList
	for _, o := range original {
		if !skip[o] {
			rest = append(rest, o)
		}
	}
	return k.Client.Update(rest, changed, force)
}

// Helm's ownership metadata, which an upgrade adds to every target object
// (and which the deployed manifest, built without it, lacks).
const (
	managedByLabel        = "app.kubernetes.io/managed-by"
	releaseNameAnnotation = "meta.helm.sh/release-name"
	releaseNSAnnotation   = "meta.helm.sh/release-namespace"
)

// sameRendered reports whether the deployed revision rendered an object
// exactly as the target does, once the target's ownership metadata is set
// on the deployed copy too. Anything else Helm may add to the target makes
// them differ, and the object goes through Helm's Update.
func sameRendered(deployed, target *resource.Info) bool {
	d, ok := deployed.Object.(*unstructured.Unstructured)
	if !ok {
		return false
	}
	t, ok := target.Object.(*unstructured.Unstructured)
	if !ok {
		return false
	}
	d = d.DeepCopy()
	if v, ok := t.GetLabels()[managedByLabel]; ok {
		l := d.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[managedByLabel] = v
		d.SetLabels(l)
	}
	a := d.GetAnnotations()
	for _, key := range []string{releaseNameAnnotation, releaseNSAnnotation} {
		if v, ok := t.GetAnnotations()[key]; ok {
			if a == nil {
				a = map[string]string{}
			}
			a[key] = v
		}
	}
	if a != nil {
		d.SetAnnotations(a)
	}
	return equality.Semantic.DeepEqual(d.Object, t.Object)
}

// factory is kubectl's factory (Helm's default) with a Validator whose
// answers are cached per cluster.
type factory struct {
	cmdutil.Factory
	disco *kubecache.Discovery
}

// Validator implements helmkube.Factory. Like kubectl's, a strict
// validator asks the server, per kind, whether it accepts the
// fieldValidation parameter; when it does, nothing is validated client-side
// (the server validates), otherwise the object is checked against the
// OpenAPI schema by kubectl's own validator. The difference is where the
// answer comes from: kubectl reads the OpenAPI v3 document of every group
// version on every Validator (three per Helm upgrade); here a group version
// of Kubernetes' own API on a server of 1.27 or later is known to accept it
// (field validation is GA there, on every built-in resource), and other
// kinds are asked once per cluster.
func (f *factory) Validator(directive string) (validation.Schema, error) {
	if directive == metav1.FieldValidationIgnore {
		return validation.NullSchema{}, nil
	}
	return &schemaValidator{f: f, directive: directive}, nil
}

// fieldValidationGA is the first Kubernetes version whose built-in resources
// all accept the fieldValidation parameter (GA, no feature gate).
var fieldValidationGA = utilversion.MustParseGeneric("1.27.0")

type schemaValidator struct {
	f         *factory
	directive string

	once     sync.Once
	verifier resource.Verifier
	full     validation.Schema
	err      error
}

func (s *schemaValidator) ValidateBytes(data []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return err
	}
	var errs []error
	if tm.APIVersion == "" {
		errs = append(errs, errors.New("apiVersion not set"))
	}
	if tm.Kind == "" {
		errs = append(errs, errors.New("kind not set"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return err
	}
	err = s.f.disco.FieldValidation(gv.WithKind(tm.Kind), s.ask, resource.IsParamUnsupportedError)
	if resource.IsParamUnsupportedError(err) {
		if s.directive != metav1.FieldValidationStrict {
			return nil
		}
		if err := s.init(); err != nil {
			return err
		}
		return s.full.ValidateBytes(data)
	}
	return err
}

// ask is kubectl's answer for one kind, short-cut for built-in kinds.
func (s *schemaValidator) ask(gvk schema.GroupVersionKind) error {
	if scheme.Scheme.IsVersionRegistered(gvk.GroupVersion()) {
		if v, err := s.f.disco.ServerVersion(); err == nil {
			if sv, err := utilversion.ParseGeneric(v.GitVersion); err == nil && sv.AtLeast(fieldValidationGA) {
				return nil
			}
		}
	}
	if err := s.init(); err != nil {
		return err
	}
	return s.verifier.HasSupport(gvk)
}

// init builds kubectl's verifier (OpenAPI v3, falling back to v2) on the
// cluster's cached documents, and kubectl's own strict validator for kinds
// the server does not validate.
func (s *schemaValidator) init() error {
	s.once.Do(func() {
		dyn, err := s.f.DynamicClient()
		if err != nil {
			s.err = err
			return
		}
		param := resource.QueryParamFieldValidation
		s.verifier = resource.NewFallbackQueryParamVerifier(
			resource.NewQueryParamVerifierV3(dyn, s.f.disco.OpenAPIV3(), param),
			resource.NewQueryParamVerifier(dyn, openapi.NewOpenAPIGetter(s.f.disco), param))
		s.full, s.err = s.f.Factory.Validator(s.directive)
	})
	return s.err
}
