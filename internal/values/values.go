// Package values reads and writes Helm values trees by dotted path
// ("nats.config.cluster.replicas"), the form the runbook and `--set` use.
package values

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Split validates a dotted path and returns its keys.
func Split(path string) ([]string, error) {
	if path == "" {
		return nil, fmt.Errorf("empty value path")
	}
	keys := strings.Split(path, ".")
	for _, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("value path %q has an empty key", path)
		}
	}
	return keys, nil
}

// Get returns the value at path and whether it exists.
func Get(tree map[string]any, path string) (any, bool) {
	keys, err := Split(path)
	if err != nil {
		return nil, false
	}
	var cur any = tree
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Set writes v at path, creating intermediate maps. It fails when a key on
// the way holds something other than a map.
func Set(tree map[string]any, path string, v any) error {
	keys, err := Split(path)
	if err != nil {
		return err
	}
	cur := tree
	for i, k := range keys[:len(keys)-1] {
		next, ok := cur[k]
		if !ok || next == nil {
			m := map[string]any{}
			cur[k] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("value path %q: %s is a %T, not a map", path, strings.Join(keys[:i+1], "."), next)
		}
		cur = m
	}
	cur[keys[len(keys)-1]] = v
	return nil
}

// Int reads the value at path as an integer. Values decoded from YAML or JSON
// arrive as int, int64 or float64; a float with a fraction is not an integer.
func Int(tree map[string]any, path string) (int64, bool) {
	v, ok := Get(tree, path)
	if !ok {
		return 0, false
	}
	return AsInt(v)
}

// AsInt converts a decoded number to int64.
func AsInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n != math.Trunc(n) {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// Bool reads the value at path as a boolean; missing means false.
func Bool(tree map[string]any, path string) bool {
	v, ok := Get(tree, path)
	if !ok {
		return false
	}
	b, _ := v.(bool)
	return b
}

// Copy deep-copies a values tree.
func Copy(v map[string]any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(v))
	for k, x := range v {
		out[k] = copyValue(x)
	}
	return out
}

func copyValue(x any) any {
	switch t := x.(type) {
	case map[string]any:
		return Copy(t)
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = copyValue(e)
		}
		return s
	}
	return x
}

// Equal compares values trees the way Helm stores them: as JSON, where 5
// and 5.0 are the same number and a nil map equals an empty one.
func Equal(a, b map[string]any) (bool, error) {
	na, err := canonical(a)
	if err != nil {
		return false, err
	}
	nb, err := canonical(b)
	if err != nil {
		return false, err
	}
	return na == nb, nil
}

func canonical(v map[string]any) (string, error) {
	if v == nil {
		v = map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return "", err
	}
	b, err = json.Marshal(generic)
	return string(b), err
}
