package scale

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
)

// The scale-out prerequisites (the Fluxbase guide's "Horizontal Scaling
// Requirements": to scale horizontally, all state must be externalized and
// shared). Replicas and Autoscale check them whenever a plan would run more
// than one replica, from the manifests the plan renders (never the live
// objects: what matters is what the upgrade leaves running).
const (
	// GuardScaleOutState blocks a scale-out of an app that keeps state per
	// instance (*StatePerInstanceError).
	GuardScaleOutState = "scale-out-state"
	// GuardStickySessions warns when realtime clients reach more than one
	// replica through a Service without session affinity.
	GuardStickySessions = "sticky-sessions"
)

// Defaults of ScaleOutRules: the Fluxbase guide's settings.
const (
	// DefaultStorageEnv is Fluxbase's storage.provider setting.
	DefaultStorageEnv = "FLUXBASE_STORAGE_PROVIDER"
	// DefaultDatabaseEnv is the guide's external PostgreSQL setting.
	DefaultDatabaseEnv = "DATABASE_URL"
	// DefaultEmbeddedDBEnv turns the app's embedded database on. The guide
	// says only "cannot use embedded/local PostgreSQL" and names no variable
	// for it: this one follows its FLUXBASE_<CATEGORY>_<SETTING> convention
	// (and is what the reference chart renders for database.embedded).
	DefaultEmbeddedDBEnv = "FLUXBASE_DATABASE_EMBEDDED"
	// DefaultRealtimeEnv is Fluxbase's app.realtime.enabled setting.
	DefaultRealtimeEnv = "FLUXBASE_REALTIME_ENABLED"
)

// ScaleOutRules say which settings of the app's containers mean state per
// instance, and which mean realtime clients. Each name is an environment
// variable of the rendered pod template, set directly, through a
// ConfigMap or Secret key, or through envFrom. The zero value is the
// Fluxbase guide's (the Default* constants); set a field to match another
// app's names.
type ScaleOutRules struct {
	// Disabled turns both scale-out guards off (they then pass, saying so):
	// for an app whose state is externalized in ways these rules cannot see.
	Disabled bool `json:"disabled,omitempty"`
	// StorageEnv names the storage provider setting; default
	// DefaultStorageEnv.
	StorageEnv string `json:"storageEnv,omitempty"`
	// LocalStorage are StorageEnv's values that keep files on the pod's
	// filesystem (compared case-insensitively); default ["local"].
	LocalStorage []string `json:"localStorage,omitempty"`
	// DatabaseEnv are the settings any one of which points the app at an
	// external database; default [DefaultDatabaseEnv].
	DatabaseEnv []string `json:"databaseEnv,omitempty"`
	// EmbeddedDBEnv names the embedded-database setting; default
	// DefaultEmbeddedDBEnv. Only a true value of it, with no DatabaseEnv,
	// counts as an embedded database: an app that names neither is not
	// judged.
	EmbeddedDBEnv string `json:"embeddedDBEnv,omitempty"`
	// RealtimeEnv names the setting whose true value means the app serves
	// realtime (WebSocket) clients; default DefaultRealtimeEnv.
	RealtimeEnv string `json:"realtimeEnv,omitempty"`
	// True are the values that mean on (case-insensitively); default
	// ["true", "1", "yes", "on"].
	True []string `json:"true,omitempty"`
}

// envName is what Kubernetes accepts as an environment variable name.
var envName = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

// withDefaults fills the guide's settings in and validates the rest: an
// empty name in a list would match nothing and silently turn a check off.
func (r ScaleOutRules) withDefaults() (ScaleOutRules, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defs := func(s *[]string, v ...string) {
		if len(*s) == 0 {
			*s = v
		}
	}
	def(&r.StorageEnv, DefaultStorageEnv)
	def(&r.EmbeddedDBEnv, DefaultEmbeddedDBEnv)
	def(&r.RealtimeEnv, DefaultRealtimeEnv)
	defs(&r.LocalStorage, "local")
	defs(&r.DatabaseEnv, DefaultDatabaseEnv)
	defs(&r.True, "true", "1", "yes", "on")
	bad := func(field string, v any, why string) error {
		return &scaling.InvalidInputError{Field: "Options.ScaleOut." + field, Value: v, Reason: why}
	}
	names := map[string]string{"StorageEnv": r.StorageEnv, "EmbeddedDBEnv": r.EmbeddedDBEnv, "RealtimeEnv": r.RealtimeEnv}
	for i, n := range r.DatabaseEnv {
		names[fmt.Sprintf("DatabaseEnv[%d]", i)] = n
	}
	for _, field := range slices.Sorted(maps.Keys(names)) {
		if !envName.MatchString(names[field]) {
			return r, bad(field, names[field], "must be an environment variable name (letters, digits, '_', '-', '.'; not starting with a digit)")
		}
	}
	for field, list := range map[string][]string{"LocalStorage": r.LocalStorage, "True": r.True} {
		for i, v := range list {
			if strings.TrimSpace(v) == "" {
				return r, bad(fmt.Sprintf("%s[%d]", field, i), v, "must not be empty")
			}
		}
	}
	return r, nil
}

// envValue is one environment variable of a container as the rendered
// manifest sets it. Known is false for a value the manifest does not hold
// (a Secret's, a ConfigMap the release does not render, a field reference).
type envValue struct {
	value  string
	known  bool
	source string
}

// containerEnv resolves a container's environment the way the kubelet
// builds it: envFrom first, env over it, ConfigMaps and Secrets looked up
// among the rendered objects. unresolved lists the envFrom sources the
// release does not render, whose keys are unknown.
func containerEnv(ctr corev1.Container, objs map[string]manifest.Object, ns string) (env map[string]envValue, unresolved []string) {
	env = map[string]envValue{}
	for _, from := range ctr.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			src := "ConfigMap " + from.ConfigMapRef.Name
			cm, ok := renderedObject(objs, "ConfigMap", ns, from.ConfigMapRef.Name)
			if !ok {
				unresolved = append(unresolved, src)
				continue
			}
			data, _ := cm.Obj.Object["data"].(map[string]any)
			for k, v := range data {
				env[from.Prefix+k] = envValue{value: fmt.Sprint(v), known: true, source: "envFrom " + src}
			}
		case from.SecretRef != nil:
			src := "Secret " + from.SecretRef.Name
			sec, ok := renderedObject(objs, "Secret", ns, from.SecretRef.Name)
			if !ok {
				unresolved = append(unresolved, src)
				continue
			}
			for _, field := range []string{"data", "stringData"} {
				data, _ := sec.Obj.Object[field].(map[string]any)
				for k := range data {
					env[from.Prefix+k] = envValue{source: "envFrom " + src}
				}
			}
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envValue{value: e.Value, known: true, source: "env"}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v := envValue{source: fmt.Sprintf("ConfigMap %s key %s", ref.Name, ref.Key)}
			if cm, ok := renderedObject(objs, "ConfigMap", ns, ref.Name); ok {
				data, _ := cm.Obj.Object["data"].(map[string]any)
				if s, ok := data[ref.Key]; ok {
					v.value, v.known = fmt.Sprint(s), true
				}
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = envValue{source: fmt.Sprintf("Secret %s key %s", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)}
		default:
			env[e.Name] = envValue{source: "a field reference"}
		}
	}
	return env, unresolved
}

func renderedObject(objs map[string]manifest.Object, kind, ns, name string) (manifest.Object, bool) {
	for _, o := range objs {
		if o.Obj.GetKind() == kind && o.Obj.GetName() == name && o.Obj.GetNamespace() == ns {
			return o, true
		}
	}
	return manifest.Object{}, false
}

// isOneOf compares case-insensitively, as apps parse these settings.
func isOneOf(v string, set []string) bool {
	return slices.ContainsFunc(set, func(s string) bool { return strings.EqualFold(strings.TrimSpace(v), s) })
}

// scaleOut is what the two guards need: the workload, the replica count
// (an HPA's maximum for Autoscale) and whether the plan scales out at all.
type scaleOut struct {
	ref      scaling.ObjectRef
	replicas int32
	// from is the count the workload runs now; a plan to 1 or to fewer than
	// from never adds an instance, so it is not judged.
	from int32
	// what names the count in reasons: "replicas" or "HPA maxReplicas".
	what string
}

func (s scaleOut) applies() (bool, string) {
	switch {
	case s.replicas <= 1:
		return false, fmt.Sprintf("%s is %d: a single instance shares its state with no other", s.what, s.replicas)
	case s.replicas < s.from:
		return false, fmt.Sprintf("a scale-in from %d to %d %s adds no instance", s.from, s.replicas, s.what)
	}
	return true, ""
}

// scaleOutGuards are the scale-out prerequisites of a plan that would run
// s.replicas pods of tmpl, judged on the rendered objects.
func scaleOutGuards(rules ScaleOutRules, s scaleOut, tmpl corev1.PodTemplateSpec, objs map[string]manifest.Object) []scaling.GuardResult {
	state := scaling.GuardResult{Name: GuardScaleOutState, Outcome: scaling.Pass}
	sticky := scaling.GuardResult{Name: GuardStickySessions, Outcome: scaling.Pass}
	if rules.Disabled {
		state.Reason, sticky.Reason = "disabled (Options.ScaleOut.Disabled)", "disabled (Options.ScaleOut.Disabled)"
		return []scaling.GuardResult{state, sticky}
	}
	if ok, why := s.applies(); !ok {
		state.Reason, sticky.Reason = why, why
		return []scaling.GuardResult{state, sticky}
	}
	ns := s.ref.Namespace
	cause := &StatePerInstanceError{Workload: s.ref, Replicas: s.replicas}
	var notes []string
	realtime := ""
	containers := append(slices.Clone(tmpl.Spec.InitContainers), tmpl.Spec.Containers...)
	for _, ctr := range tmpl.Spec.Containers {
		env, unresolved := containerEnv(ctr, objs, ns)
		if v, ok := env[rules.StorageEnv]; ok {
			switch {
			case !v.known:
				notes = append(notes, fmt.Sprintf("container %s takes %s from %s: its value is not in the manifest, not checked", ctr.Name, rules.StorageEnv, v.source))
			case isOneOf(v.value, rules.LocalStorage):
				cause.Storage = v.value
				cause.Reasons = append(cause.Reasons, fmt.Sprintf("container %s stores files on its own filesystem (%s=%s): each of %d replicas would see only its own uploads", ctr.Name, rules.StorageEnv, v.value, s.replicas))
			}
		}
		if v, ok := env[rules.EmbeddedDBEnv]; ok && v.known && isOneOf(v.value, rules.True) {
			db := ""
			for _, name := range rules.DatabaseEnv {
				if d, ok := env[name]; ok && (!d.known || strings.TrimSpace(d.value) != "") {
					db = name + " (" + d.source + ")"
					break
				}
			}
			switch {
			case db != "":
				notes = append(notes, fmt.Sprintf("container %s has %s=%s but an external database through %s", ctr.Name, rules.EmbeddedDBEnv, v.value, db))
			case len(unresolved) > 0:
				// A Secret the release does not render is how a database URL
				// usually arrives: assume it does rather than block on a guess.
				notes = append(notes, fmt.Sprintf("container %s has %s=%s and no %s in the manifest; assumed to come from %s", ctr.Name, rules.EmbeddedDBEnv, v.value, strings.Join(rules.DatabaseEnv, "/"), strings.Join(unresolved, ", ")))
			default:
				cause.EmbeddedDB = true
				cause.Reasons = append(cause.Reasons, fmt.Sprintf("container %s runs an embedded database (%s=%s, no %s): %d replicas would be %d separate databases", ctr.Name, rules.EmbeddedDBEnv, v.value, strings.Join(rules.DatabaseEnv, " or "), s.replicas, s.replicas))
			}
		}
		if v, ok := env[rules.RealtimeEnv]; ok && v.known && isOneOf(v.value, rules.True) && realtime == "" {
			realtime = fmt.Sprintf("container %s serves realtime clients (%s=%s)", ctr.Name, rules.RealtimeEnv, v.value)
		}
	}
	for _, claim := range mountedClaims(tmpl.Spec, containers) {
		pvc, ok := renderedClaim(objs, ns, claim)
		if !ok {
			notes = append(notes, fmt.Sprintf("PersistentVolumeClaim %s is not rendered by the release: its access modes are not checked", claim))
			continue
		}
		modes := pvc.Spec.AccessModes
		if slices.Contains(modes, corev1.ReadWriteMany) || !(slices.Contains(modes, corev1.ReadWriteOnce) || slices.Contains(modes, corev1.ReadWriteOncePod)) {
			continue
		}
		cause.Claims = append(cause.Claims, ClaimAccess{Claim: claim, AccessModes: accessModes(modes)})
		cause.Reasons = append(cause.Reasons, fmt.Sprintf("the pods mount PersistentVolumeClaim %s (%s): %s, so replicas on other nodes cannot start and those sharing a node share one directory", claim, strings.Join(accessModes(modes), ", "), rwoWhy(modes)))
	}
	if len(cause.Reasons) > 0 {
		state.Outcome, state.Cause = scaling.Block, cause
		state.Reason = fmt.Sprintf("%d %s of %s need state shared by every instance: %s", s.replicas, s.what, s.ref, strings.Join(cause.Reasons, "; "))
		state.Remedy = "externalize the state first (the Fluxbase guide's horizontal-scaling prerequisites): S3-compatible storage (storage.provider=s3) instead of local files or a ReadWriteOnce volume, an external PostgreSQL through " + rules.DatabaseEnv[0] + "; then scale"
	} else {
		state.Reason = fmt.Sprintf("%d %s of %s keep no state per instance: no local storage, no ReadWriteOnce volume, no embedded database", s.replicas, s.what, s.ref)
		if len(notes) > 0 {
			state.Reason += " (" + strings.Join(notes, "; ") + ")"
		}
	}
	sticky = stickyGuard(s, realtime, rules, tmpl, objs)
	return []scaling.GuardResult{state, sticky}
}

// stickyGuard: a WebSocket client reconnecting through a Service without
// affinity lands on any pod, which knows nothing of its subscriptions (the
// guide's "Load Balancer with Session Stickiness ... required for WebSocket
// connections"). It warns rather than blocks: clients reconnect and
// resubscribe, and stickiness may live in an ingress in front.
func stickyGuard(s scaleOut, realtime string, rules ScaleOutRules, tmpl corev1.PodTemplateSpec, objs map[string]manifest.Object) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardStickySessions, Outcome: scaling.Pass}
	if realtime == "" {
		g.Reason = fmt.Sprintf("no container serves realtime clients (%s is not true)", rules.RealtimeEnv)
		return g
	}
	var loose, sticky []string
	for _, o := range manifest.Sorted(objs) {
		if o.Obj.GetKind() != "Service" || o.Obj.GetNamespace() != s.ref.Namespace {
			continue
		}
		var svc corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &svc); err != nil {
			continue
		}
		// A headless Service (peer discovery) balances nothing.
		if svc.Spec.ClusterIP == corev1.ClusterIPNone || !selects(svc.Spec.Selector, tmpl.Labels) {
			continue
		}
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			sticky = append(sticky, svc.Name)
		} else {
			loose = append(loose, svc.Name)
		}
	}
	switch {
	case len(loose) > 0:
		g.Outcome = scaling.Warn
		g.Reason = fmt.Sprintf("%s, and Service %s balances them over %d %s without sessionAffinity: ClientIP: a reconnecting WebSocket client may reach a pod without its subscriptions", realtime, strings.Join(loose, ", "), s.replicas, s.what)
		g.Remedy = "set the Service's sessionAffinity to ClientIP (service.sessionAffinity=ClientIP in the reference chart), or sticky sessions on the load balancer in front"
	case len(sticky) > 0:
		g.Reason = fmt.Sprintf("%s; Service %s has sessionAffinity: ClientIP", realtime, strings.Join(sticky, ", "))
	default:
		g.Reason = realtime + "; no Service of the release balances the pods: the load balancer's stickiness is not checked"
	}
	return g
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// mountedClaims are the claims of the pod's volumes that a container
// mounts, sorted.
func mountedClaims(pod corev1.PodSpec, containers []corev1.Container) []string {
	mounted := map[string]bool{}
	for _, c := range containers {
		for _, m := range c.VolumeMounts {
			mounted[m.Name] = true
		}
	}
	var out []string
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil && mounted[v.Name] && !slices.Contains(out, v.PersistentVolumeClaim.ClaimName) {
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		}
	}
	sort.Strings(out)
	return out
}

func renderedClaim(objs map[string]manifest.Object, ns, name string) (*corev1.PersistentVolumeClaim, bool) {
	o, ok := renderedObject(objs, "PersistentVolumeClaim", ns, name)
	if !ok {
		return nil, false
	}
	var pvc corev1.PersistentVolumeClaim
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &pvc); err != nil {
		return nil, false
	}
	return &pvc, true
}

func accessModes(modes []corev1.PersistentVolumeAccessMode) []string {
	out := make([]string, len(modes))
	for i, m := range modes {
		out[i] = string(m)
	}
	return out
}

func rwoWhy(modes []corev1.PersistentVolumeAccessMode) string {
	if slices.Contains(modes, corev1.ReadWriteOncePod) {
		return "one pod at a time can mount it"
	}
	return "one node at a time can mount it"
}
