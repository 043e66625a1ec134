package natstest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"
)

// Conf is what natstest reads from a nats.conf: the settings it honours when
// it starts or reloads a server for Follow, and the server name the config
// gives, to check against its own naming.
type Conf struct {
	// ServerName is server_name with its variables resolved; empty if unset.
	ServerName string
	// Cluster says the config has a cluster block (a cluster listen address
	// or routes): clustering on.
	Cluster bool
	// Routes are the cluster block's route URLs, as written.
	Routes []string
	// JetStream says JetStream is enabled.
	JetStream bool
	// MaxFileStore and MaxMemoryStore are the JetStream limits in bytes, -1
	// where the config does not set them. 0 is a real value: no storage of
	// that kind (the official chart renders max_memory_store: 0 unless the
	// memory store is enabled).
	MaxFileStore, MaxMemoryStore int64
}

// varRef matches a variable reference ($NAME) in a nats.conf.
var varRef = regexp.MustCompile(`\$[A-Za-z_][A-Za-z0-9_]*`)

// envVarPrefix names the variables ParseConf defines.
const envVarPrefix = "NATSTEST_ENV_"

// ParseConf reads a nats.conf the way nats-server does, with its own parser
// and options processing, so both syntaxes work (the official chart's
// JSON-style rendering and the hand-written "cluster { ... }" one) and a
// config a real server would refuse is refused here too.
//
// vars are the environment variables of the server's container, which the
// config may reference ($SERVER_NAME, $POD_NAME): nats-server resolves a
// reference from the blocks around it, then from its environment. ParseConf
// defines each referenced variable ahead of the config text instead (on the
// first line, so line numbers in errors stay right), so parsing never reads
// or changes this process's environment. A reference to a variable vars
// lacks fails as it does in nats-server. One difference: a variable the
// config defines itself at the top level is shadowed by one of vars with the
// same name, where nats-server would prefer the config's.
func ParseConf(text string, vars map[string]string) (*Conf, error) {
	// Defined at the top level under their own names, the variables would
	// also be options to nats-server, which reads option names regardless
	// of case (SERVER_NAME would set server_name): they get names no option
	// has, and the references are renamed to match.
	var defs strings.Builder
	var defined []string
	seen := map[string]bool{}
	text = varRef.ReplaceAllStringFunc(text, func(ref string) string {
		name := ref[1:]
		v, ok := vars[name]
		if !ok {
			return ref
		}
		if !seen[name] {
			seen[name] = true
			defined = append(defined, envVarPrefix+name)
			fmt.Fprintf(&defs, "%s%s: %s; ", envVarPrefix, name, confString(v))
		}
		return "$" + envVarPrefix + name
	})
	full := defs.String() + text

	o := &server.Options{}
	if err := o.ProcessConfigString(full); err != nil {
		if errs := configErrors(err, defined); len(errs) > 0 {
			return nil, fmt.Errorf("natstest: nats.conf: %w", errors.Join(errs...))
		}
	}
	// Options cannot tell an unset JetStream limit from an explicit 0
	// (nats-server keeps that in unexported fields): the plain map can.
	raw, err := conf.Parse(full)
	if err != nil {
		return nil, fmt.Errorf("natstest: nats.conf: %w", err)
	}
	c := &Conf{
		ServerName:     o.ServerName,
		Cluster:        o.Cluster.Port != 0 || o.Cluster.Host != "" || len(o.Routes) > 0,
		JetStream:      o.JetStream,
		MaxFileStore:   -1,
		MaxMemoryStore: -1,
	}
	for _, u := range o.Routes {
		c.Routes = append(c.Routes, u.String())
	}
	if js, ok := lookup(raw, "jetstream").(map[string]any); ok {
		if lookup(js, "max_file_store", "max_file") != nil {
			c.MaxFileStore = o.JetStreamMaxStore
		}
		if lookup(js, "max_memory_store", "max_mem_store", "max_mem") != nil {
			c.MaxMemoryStore = o.JetStreamMaxMemory
		}
	}
	return c, nil
}

// lookup returns the value of the first of keys in m, matched regardless of
// case as nats-server does, or nil.
func lookup(m map[string]any, keys ...string) any {
	for k, v := range m {
		for _, want := range keys {
			if strings.EqualFold(k, want) {
				return v
			}
		}
	}
	return nil
}

// configErrors returns the errors of a nats-server options error, leaving
// out its warnings and the "unknown field" errors of variables ParseConf
// defined but the config did not use as a variable (a reference inside a
// quoted string or a comment).
func configErrors(err error, defined []string) []error {
	all := []error{err}
	var perr interface {
		Errors() []error
	}
	if errors.As(err, &perr) {
		all = perr.Errors()
	}
	var out []error
next:
	for _, e := range all {
		for _, name := range defined {
			if strings.HasSuffix(e.Error(), fmt.Sprintf("unknown field %q", name)) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// confString quotes s as a nats.conf string.
func confString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// expandEnv resolves a container's environment the way the kubelet does:
// $(NAME) refers to a variable defined earlier in the list, $$ is a literal
// $, and a reference to an unknown name stays as written. A fieldRef gives
// metadata.name (the pod's name) or metadata.namespace; variables from other
// sources (Secrets, ConfigMaps, resources, other fields) are left out.
func expandEnv(env []corev1.EnvVar, pod, namespace string) map[string]string {
	vars := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = expand(e.Value, vars)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			vars[e.Name] = pod
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			vars[e.Name] = namespace
		}
	}
	return vars
}

// expand replaces $(NAME) references in s, as the kubelet does.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
