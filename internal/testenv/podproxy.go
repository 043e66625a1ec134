package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"k8s.io/client-go/rest"
)

// The API server proxies GET pods/<pod>:8000/proxy/pg/status to the pod's
// IP; a KWOK pod has no process behind its IP, so that one hop is played
// here: WrapConfig's transport answers the request from the operator's
// Backend, after asking the API server whether the caller may make it (a
// SelfSubjectAccessReview with the caller's own credentials and
// impersonation), so RBAC stays real. Every other request goes to the API
// server unchanged.

var proxyPath = regexp.MustCompile(`^/api/v1/namespaces/([^/]+)/pods/([^/]+)/proxy(/.*)?$`)

// WrapConfig returns a copy of cfg whose clients reach the instance
// managers of this operator's namespace through the pod proxy.
func (o *Operator) WrapConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	prev := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return &podProxy{next: rt, op: o}
	}
	return cfg
}

type podProxy struct {
	next http.RoundTripper
	op   *Operator
}

func (p *podProxy) RoundTrip(req *http.Request) (*http.Response, error) {
	m := proxyPath.FindStringSubmatch(req.URL.Path)
	if m == nil || m[1] != p.op.ns {
		return p.next.RoundTrip(req)
	}
	ns, target, path := m[1], m[2], m[3]
	// <scheme>:<pod>:<port>, scheme and port optional.
	parts := strings.Split(target, ":")
	if len(parts) == 3 {
		parts = parts[1:]
	}
	pod, port := parts[0], ""
	if len(parts) == 2 {
		port = parts[1]
	}
	allowed, err := p.allowed(req, ns, pod)
	if err != nil {
		return nil, err
	}
	if !allowed {
		return status(req, http.StatusForbidden, "Forbidden", fmt.Sprintf("pods %q is forbidden: cannot get resource \"pods/proxy\" in the namespace %q", pod, ns)), nil
	}
	if req.Method != http.MethodGet || port != "8000" || path != "/pg/status" {
		return status(req, http.StatusServiceUnavailable, "ServiceUnavailable", "the test environment's pod proxy answers only GET :8000/pg/status"), nil
	}
	doc, found, err := p.op.backend.Status(req.Context(), ns, pod)
	switch {
	case err != nil:
		return status(req, http.StatusServiceUnavailable, "ServiceUnavailable", "error trying to reach service: "+err.Error()), nil
	case !found:
		return status(req, http.StatusNotFound, "NotFound", fmt.Sprintf("pods %q not found", pod)), nil
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(doc)), ContentLength: int64(len(doc)), Request: req}, nil
}

// allowed asks the API server, as the caller, for get on pods/proxy.
func (p *podProxy) allowed(orig *http.Request, ns, pod string) (bool, error) {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{"namespace": ns, "verb": "get", "resource": "pods", "subresource": "proxy", "name": pod}},
	})
	if err != nil {
		return false, err
	}
	u := *orig.URL
	u.Path, u.RawQuery = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ""
	req, err := http.NewRequestWithContext(orig.Context(), http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	for k, v := range orig.Header {
		if k == "Accept" || k == "Content-Type" {
			continue
		}
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := p.next.RoundTrip(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("testenv pod proxy: access review: %s: %s", resp.Status, raw)
	}
	var review struct {
		Status struct{ Allowed bool } `json:"status"`
	}
	if err := json.Unmarshal(raw, &review); err != nil {
		return false, err
	}
	return review.Status.Allowed, nil
}

// status is an API server error response.
func status(req *http.Request, code int, reason, msg string) *http.Response {
	b, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "reason": reason, "code": code})
	return &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}
}
