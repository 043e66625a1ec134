// Package reqcount records the Kubernetes API requests that pass through an
// HTTP transport, counted by verb and resource. Tests use it to prove that a
// refused or repeated Apply wrote nothing; benchmarks use it to count the
// requests one plan costs.
package reqcount

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Request is one recorded API request.
type Request struct {
	// Verb is the Kubernetes verb: get, list, watch, create, update, patch,
	// delete, deletecollection (or the HTTP method for non-resource paths).
	Verb string
	// Resource is the resource with its subresource, e.g. "deployments/scale",
	// "secrets", or the path for non-resource requests ("/version").
	Resource string
	// Group is the resource's API group ("" for the core group and for
	// non-resource requests).
	Group     string
	Namespace string
	Name      string
	// Code is the response's HTTP status (0 when no response came back):
	// 403 is a request the caller's RBAC did not allow.
	Code int
	// Method and Path are the HTTP method and URL path (no query), for
	// logs that show exactly what was asked.
	Method, Path string
}

// Mutating reports whether the request can change state.
func (r Request) Mutating() bool {
	switch r.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

func (r Request) String() string {
	s := r.Verb + " " + r.Resource
	if r.Namespace != "" {
		s += " ns=" + r.Namespace
	}
	if r.Name != "" {
		s += " name=" + r.Name
	}
	return s
}

// Recorder counts requests. The zero value is ready to use and safe for
// concurrent use.
type Recorder struct {
	mu   sync.Mutex
	reqs []Request
}

// Wrap returns rt wrapped so that every request is recorded before it is
// sent. Its signature fits rest.Config.Wrap and scaling.ConnectOptions.
func (r *Recorder) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper{rec: r, next: rt}
}

type roundTripper struct {
	rec  *Recorder
	next http.RoundTripper
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	q := Parse(req)
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		q.Code = resp.StatusCode
	}
	t.rec.record(q)
	return resp, err
}

func (r *Recorder) record(q Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, q)
	r.mu.Unlock()
}

// Requests returns a copy of everything recorded since the last Reset.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Reset forgets everything recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

// Mutating returns the recorded requests that can change state.
func (r *Recorder) Mutating() []Request {
	var out []Request
	for _, q := range r.Requests() {
		if q.Mutating() {
			out = append(out, q)
		}
	}
	return out
}

// Counts returns the number of requests per "verb resource", e.g.
// "list pods": 1.
func (r *Recorder) Counts() map[string]int {
	out := map[string]int{}
	for _, q := range r.Requests() {
		out[q.Verb+" "+q.Resource]++
	}
	return out
}

// Total returns the number of requests recorded.
func (r *Recorder) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// Summary renders Counts sorted by key, one "verb resource: n" per line.
func (r *Recorder) Summary() string {
	counts := r.Counts()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "%s: %d\n", k, counts[k])
	}
	return b.String()
}

// Paths renders the recorded requests grouped by method and path, in first
// request order, one "METHOD /path xN" per line: what a benchmark logs so
// that a request made twice is visible.
func (r *Recorder) Paths() string {
	var (
		order []string
		n     = map[string]int{}
	)
	for _, q := range r.Requests() {
		k := q.Method + " " + q.Path
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%s x%d\n", k, n[k])
	}
	return b.String()
}

// Parse maps an HTTP request to the Kubernetes verb and resource it
// addresses, following the API server's URL layout:
// /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] and
// /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUB]].
func Parse(req *http.Request) Request {
	q := parse(req)
	q.Method, q.Path = req.Method, req.URL.Path
	return q
}

func parse(req *http.Request) Request {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var rest []string
	group := ""
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
		group = parts[1]
	default:
		return Request{Verb: strings.ToLower(req.Method), Resource: req.URL.Path}
	}
	q := Request{Group: group}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		q.Namespace = rest[1]
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return Request{Verb: strings.ToLower(req.Method), Resource: req.URL.Path}
	}
	q.Resource = rest[0]
	if len(rest) >= 2 {
		q.Name = rest[1]
	}
	if len(rest) >= 3 {
		// The subresource is one segment: what follows a proxy's is the
		// proxied path (pods/NAME/proxy/pg/status is "pods/proxy").
		q.Resource += "/" + rest[2]
	}
	named := q.Name != ""
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			q.Verb = "watch"
		case named:
			q.Verb = "get"
		default:
			q.Verb = "list"
		}
	case http.MethodPost:
		q.Verb = "create"
	case http.MethodPut:
		q.Verb = "update"
	case http.MethodPatch:
		q.Verb = "patch"
	case http.MethodDelete:
		if named {
			q.Verb = "delete"
		} else {
			q.Verb = "deletecollection"
		}
	default:
		q.Verb = strings.ToLower(req.Method)
	}
	return q
}
