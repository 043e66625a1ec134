// Package redact keeps secret values out of everything a plan shows and
// stores: values trees, rendered objects, steps. A secret is replaced by a
// placeholder carrying a short salted digest, so a diff still says whether
// it changed and two derivations of the same state give the same text.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/values"
)

// Redactor applies one scaling.Redaction. The nil *Redactor is the
// default one: nothing can skip redaction by leaving it unset.
type Redactor struct {
	keys  *regexp.Regexp
	paths [][]string
	// known caches SensitiveKey's answers: the keys of a release's values
	// and objects repeat (name, labels, image) and a pattern match costs
	// more than the lookup.
	known sync.Map
}

// New validates r and returns its Redactor.
func New(r scaling.Redaction) (*Redactor, error) {
	out := &Redactor{keys: r.Keys}
	for i, p := range r.Paths {
		keys, err := values.Split(p)
		if err != nil {
			return nil, &scaling.InvalidInputError{Field: fmt.Sprintf("Options.Redaction.Paths[%d]", i), Value: p, Reason: err.Error()}
		}
		out.paths = append(out.paths, keys)
	}
	return out, nil
}

func (r *Redactor) pattern() *regexp.Regexp {
	if r == nil || r.keys == nil {
		return scaling.DefaultSensitiveKeys
	}
	return r.keys
}

// SensitiveKey reports whether a single key names a secret.
func (r *Redactor) SensitiveKey(key string) bool {
	if r == nil {
		return scaling.DefaultSensitiveKeys.MatchString(key)
	}
	if v, ok := r.known.Load(key); ok {
		return v.(bool)
	}
	secret := r.pattern().MatchString(key)
	r.known.Store(key, secret)
	return secret
}

// SensitivePath reports whether a dotted value path is secret: a key on it
// matches, or it lies in a path the caller marked.
func (r *Redactor) SensitivePath(path string) bool {
	keys, err := values.Split(path)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if r.SensitiveKey(k) {
			return true
		}
	}
	return r.marked(keys)
}

func (r *Redactor) marked(keys []string) bool {
	if r == nil {
		return false
	}
	for _, p := range r.paths {
		if len(keys) >= len(p) && equal(keys[:len(p)], p) {
			return true
		}
	}
	return false
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Placeholder is what a secret value at where is shown as.
func Placeholder(where string, v any) string {
	h := sha256.New()
	fmt.Fprintf(h, "scaling/redact\x00%s\x00%v", where, v)
	return "(sensitive sha256:" + hex.EncodeToString(h.Sum(nil))[:12] + ")"
}

// IsPlaceholder reports whether s is a redacted value.
func IsPlaceholder(s string) bool {
	return strings.HasPrefix(s, "(sensitive sha256:") && strings.HasSuffix(s, ")")
}

// Values returns a copy of a values tree with every secret leaf replaced by
// its placeholder. The input is not changed.
func (r *Redactor) Values(tree map[string]any) map[string]any {
	if tree == nil {
		return nil
	}
	out, _ := r.walk(tree, nil, false)
	m, _ := out.(map[string]any)
	return m
}

// walk copies v, redacting every scalar below a secret key, a marked path,
// or the value of a {name, value} entry whose name is secret (a container's
// environment variable); changed says whether it redacted anything.
func (r *Redactor) walk(v any, path []string, secret bool) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		envSecret, changed := r.secretEnv(x), false
		for k, child := range x {
			p := append(path[:len(path):len(path)], k)
			s := secret || r.SensitiveKey(k) || r.marked(p) || (envSecret && k == "value")
			var c bool
			out[k], c = r.walk(child, p, s)
			changed = changed || c
		}
		return out, changed
	case []any:
		out := make([]any, len(x))
		changed := false
		for i, child := range x {
			var c bool
			out[i], c = r.walk(child, append(path[:len(path):len(path)], fmt.Sprint(i)), secret)
			changed = changed || c
		}
		return out, changed
	case nil, bool:
		// Not a secret: "token.enabled: true" says what is configured.
		return v, false
	default:
		if !secret {
			return v, false
		}
		return Placeholder(strings.Join(path, "."), v), true
	}
}

// secretEnv reports whether m is a {name, value} entry (a container's
// environment variable) whose name is secret: then its value is.
func (r *Redactor) secretEnv(m map[string]any) bool {
	name, ok := m["name"].(string)
	_, hasValue := m["value"]
	return ok && hasValue && r.SensitiveKey(name)
}

// Object returns a rendered object's content with its secrets redacted:
// every entry of a Secret's data and stringData, a scalar under a secret
// key (a ConfigMap's DB_PASSWORD, a custom resource's password field), and
// the value of an environment variable named like a secret. changed says
// whether anything was.
//
// An object's secret-looking keys mostly hold references (secretKeyRef,
// secretName, imagePullSecrets, a CNPG superuserSecret's name), which a
// person reviewing a diff needs to read, so unlike Values a secret key does
// not redact a whole subtree here, and references are kept.
func (r *Redactor) Object(obj map[string]any) (out map[string]any, changed bool) {
	v, changed := r.objectWalk(obj)
	out, _ = v.(map[string]any)
	if kind, _ := obj["kind"].(string); kind == "Secret" {
		for _, field := range []string{"data", "stringData"} {
			if data, ok := obj[field].(map[string]any); ok {
				var c bool
				out[field], c = r.walk(data, []string{field}, true)
				changed = changed || c
			}
		}
	}
	return out, changed
}

func (r *Redactor) objectWalk(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		envSecret, changed := r.secretEnv(x), false
		for k, child := range x {
			switch {
			case reference(k):
				out[k] = child
			case scalar(child) && (r.SensitiveKey(k) || (envSecret && k == "value")):
				out[k], changed = Placeholder(k, child), true
			default:
				var c bool
				out[k], c = r.objectWalk(child)
				changed = changed || c
			}
		}
		return out, changed
	case []any:
		out := make([]any, len(x))
		changed := false
		for i, child := range x {
			var c bool
			out[i], c = r.objectWalk(child)
			changed = changed || c
		}
		return out, changed
	default:
		return v, false
	}
}

// reference reports whether an object's key names or points at something
// rather than holding it: name, key (a Secret's key, a toleration's),
// fooName, fooRef.
func reference(k string) bool {
	return k == "name" || k == "key" || strings.HasSuffix(k, "Name") || strings.HasSuffix(k, "Names") || strings.HasSuffix(k, "Ref") || strings.HasSuffix(k, "Refs")
}

// scalar reports whether v is a value a secret can be (not a map, a list,
// a boolean or nothing).
func scalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any, bool, nil:
		return false
	}
	return true
}

// Manifest returns the objects with every one that holds a secret
// rendered again from its redacted content; the others keep Helm's text.
// The input is not changed.
func (r *Redactor) Manifest(objs map[string]manifest.Object) (map[string]manifest.Object, error) {
	out := make(map[string]manifest.Object, len(objs))
	for k, o := range objs {
		if o.Obj != nil {
			red, changed := r.Object(o.Obj.Object)
			if changed {
				text, err := yaml.Marshal(red)
				if err != nil {
					return nil, fmt.Errorf("redacting %s: %w", k, err)
				}
				o.YAML = string(text)
				o.Obj = &unstructured.Unstructured{Object: red}
			}
		}
		out[k] = o
	}
	return out, nil
}

// Text redacts a value shown as text (a step's Before or After) when the
// path it sits at is secret.
func (r *Redactor) Text(path, s string) string {
	if s == "" || IsPlaceholder(s) || !r.SensitivePath(path) {
		return s
	}
	return Placeholder(path, s)
}
