package postgres

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Setting is one row of a server's pg_settings: what a parameter is now
// and what it accepts.
type Setting struct {
	Name string `json:"name"`
	// Value is what SHOW prints (current_setting: "128MB", "on");
	// Setting the raw value in Unit ("16384" of "8kB").
	Value   string `json:"value"`
	Setting string `json:"setting"`
	Unit    string `json:"unit,omitempty"`
	// Context says what applying a change takes: postmaster is a restart;
	// sighup, superuser, user, backend and superuser-backend a reload;
	// internal cannot be set.
	Context string `json:"context"`
	// VarType is bool, integer, real, string or enum; Min and Max bound
	// integer and real values (in Unit), EnumVals an enum's values.
	VarType  string   `json:"vartype"`
	Min      string   `json:"min,omitempty"`
	Max      string   `json:"max,omitempty"`
	EnumVals []string `json:"enumvals,omitempty"`
	// PendingRestart: the configuration file holds a value the server
	// applies only after a restart.
	PendingRestart bool `json:"pendingRestart,omitempty"`
}

// Restart reports whether a change of the parameter takes a restart.
func (s Setting) Restart() bool { return s.Context == "postmaster" }

// Settings reads parameters from an instance's PostgreSQL. Names it does
// not know are absent from the map. PSQL runs psql in the instance's
// postgres container through a pods/exec runner; tests substitute their own.
type Settings interface {
	Settings(ctx context.Context, pod *corev1.Pod, names ...string) (map[string]Setting, error)
}

// PSQL reads pg_settings by running `psql -At` in the instance pod's
// postgres container (what `kubectl cnpg psql` does: the container's local
// socket, as the postgres user), through Exec: a pods/exec runner the
// caller gives (client-go's remotecommand.NewSPDYExecutor or
// NewWebSocketExecutor on pods/<pod>/exec, which needs RBAC create on
// pods/exec). The library does not link remotecommand itself: it would
// add gorilla/websocket and k8s.io/streaming to every tool that embeds it.
type PSQL struct {
	Exec func(ctx context.Context, pod *corev1.Pod, container string, command []string) (stdout string, err error)
}

// parameterName is what a PostgreSQL parameter's name may be (a custom
// one has a dotted prefix): validated before it goes into a query.
var parameterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// fieldSep separates psql's output fields; no setting holds it.
const fieldSep = "\x1f"

// Command is the psql command line PSQL runs for names.
func (PSQL) Command(names ...string) ([]string, error) {
	quoted := make([]string, 0, len(names))
	for _, n := range names {
		if !parameterName.MatchString(n) {
			return nil, fmt.Errorf("parameter name %q: not a PostgreSQL parameter name", n)
		}
		quoted = append(quoted, "'"+strings.ToLower(n)+"'")
	}
	query := "SELECT name, setting, current_setting(name), coalesce(unit, ''), context, vartype, coalesce(min_val, ''), coalesce(max_val, ''), " +
		"coalesce(array_to_string(enumvals, ','), ''), pending_restart FROM pg_settings WHERE name IN (" + strings.Join(quoted, ", ") + ")"
	return []string{"psql", "-At", "-F", fieldSep, "-c", query}, nil
}

// Settings implements Settings.
func (p PSQL) Settings(ctx context.Context, pod *corev1.Pod, names ...string) (map[string]Setting, error) {
	if len(names) == 0 {
		return map[string]Setting{}, nil
	}
	if p.Exec == nil {
		return nil, fmt.Errorf("postgres.PSQL has no Exec runner")
	}
	cmd, err := p.Command(names...)
	if err != nil {
		return nil, err
	}
	out, err := p.Exec(ctx, pod, "postgres", cmd)
	if err != nil {
		return nil, fmt.Errorf("psql in %s: %w", pod.Name, err)
	}
	return parseSettings(out)
}

// parseSettings reads psql -At's rows of the query above.
func parseSettings(out string) (map[string]Setting, error) {
	res := map[string]Setting{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, fieldSep)
		if len(f) != 10 {
			return nil, fmt.Errorf("psql: unexpected row %q", line)
		}
		s := Setting{Name: f[0], Setting: f[1], Value: f[2], Unit: f[3], Context: f[4], VarType: f[5], Min: f[6], Max: f[7], PendingRestart: f[9] == "t"}
		if f[8] != "" {
			s.EnumVals = strings.Split(f[8], ",")
		}
		res[s.Name] = s
	}
	return res, nil
}

// Units of PostgreSQL's memory and time parameters, in bytes and
// microseconds.
var (
	memoryUnits = map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
	timeUnits   = map[string]float64{"us": 1, "ms": 1e3, "s": 1e6, "min": 60e6, "h": 3600e6, "d": 86400e6}
	numberUnit  = regexp.MustCompile(`^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)
)

// unitScale returns the size of a pg_settings unit ("8kB": 8192 bytes)
// and whether it is a memory unit.
func unitScale(unit string) (scale float64, memory bool, ok bool) {
	if unit == "" {
		return 1, false, true
	}
	m := numberUnit.FindStringSubmatch(unit)
	n, suffix := 1.0, unit
	if m != nil && m[1] != "" {
		n, _ = strconv.ParseFloat(m[1], 64)
		suffix = m[2]
	}
	if u, ok := memoryUnits[suffix]; ok {
		return n * u, true, true
	}
	if u, ok := timeUnits[suffix]; ok {
		return n * u, false, true
	}
	return 0, false, false
}

// inUnit converts a value as postgresql.conf takes it ("256MB", "30s",
// "100") to a number in the setting's unit, as pg_settings shows min_val,
// max_val and setting.
func inUnit(value, unit string) (float64, error) {
	m := numberUnit.FindStringSubmatch(value)
	if m == nil {
		return 0, fmt.Errorf("%q is not a number", value)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	if m[2] == "" {
		return n, nil
	}
	base, memory, ok := unitScale(unit)
	if !ok || unit == "" {
		return 0, fmt.Errorf("%q has a unit, and the parameter takes none", value)
	}
	units := timeUnits
	if memory {
		units = memoryUnits
	}
	u, ok := units[m[2]]
	if !ok {
		return 0, fmt.Errorf("%q: unit %s is not one of the parameter's (%s)", value, m[2], unitNames(memory))
	}
	return n * u / base, nil
}

func unitNames(memory bool) string {
	if memory {
		return "B, kB, MB, GB, TB"
	}
	return "us, ms, s, min, h, d"
}

// sameSetting reports whether a server's setting holds value.
func sameSetting(s Setting, value string) bool {
	switch s.VarType {
	case "bool":
		a, okA := pgBool(value)
		b, okB := pgBool(s.Setting)
		return okA && okB && a == b
	case "integer", "real":
		want, err := inUnit(value, s.Unit)
		if err != nil {
			return false
		}
		got, err := strconv.ParseFloat(s.Setting, 64)
		return err == nil && math.Abs(want-got) < 1e-9*math.Max(1, math.Abs(got))
	case "enum":
		return strings.EqualFold(s.Setting, value)
	}
	return s.Setting == value || s.Value == value
}

// pgBool reads PostgreSQL's boolean spellings.
func pgBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "1", "t", "y":
		return true, true
	case "off", "false", "no", "0", "f", "n":
		return false, true
	}
	return false, false
}
