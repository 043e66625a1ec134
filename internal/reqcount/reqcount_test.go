package reqcount

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	cases := []struct {
		method, url string
		want        Request
	}{
		{"GET", "/api/v1/namespaces/demo/pods?labelSelector=a%3Db", Request{Verb: "list", Resource: "pods", Namespace: "demo"}},
		{"GET", "/api/v1/namespaces/demo/pods?watch=true", Request{Verb: "watch", Resource: "pods", Namespace: "demo"}},
		{"GET", "/api/v1/namespaces/demo/secrets/sh.helm.release.v1.x.v1", Request{Verb: "get", Resource: "secrets", Namespace: "demo", Name: "sh.helm.release.v1.x.v1"}},
		{"PATCH", "/apis/apps/v1/namespaces/demo/deployments/web/scale", Request{Verb: "patch", Resource: "deployments/scale", Group: "apps", Namespace: "demo", Name: "web"}},
		{"GET", "/api/v1/namespaces/demo/pods/http:pg-1:8000/proxy/pg/status", Request{Verb: "get", Resource: "pods/proxy", Namespace: "demo", Name: "http:pg-1:8000"}},
		{"PUT", "/apis/apps/v1/namespaces/demo/statefulsets/nats", Request{Verb: "update", Resource: "statefulsets", Group: "apps", Namespace: "demo", Name: "nats"}},
		{"POST", "/api/v1/namespaces", Request{Verb: "create", Resource: "namespaces"}},
		{"GET", "/api/v1/nodes/n1", Request{Verb: "get", Resource: "nodes", Name: "n1"}},
		{"DELETE", "/api/v1/namespaces/demo/pods", Request{Verb: "deletecollection", Resource: "pods", Namespace: "demo"}},
		{"DELETE", "/api/v1/namespaces/demo", Request{Verb: "delete", Resource: "namespaces", Name: "demo"}},
		{"GET", "/version", Request{Verb: "get", Resource: "/version"}},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.url, nil)
		got := Parse(req)
		assert.Equal(t, c.method, got.Method)
		assert.Equal(t, req.URL.Path, got.Path)
		got.Method, got.Path = "", ""
		assert.Equal(t, c.want, got, "%s %s", c.method, c.url)
	}
}

func TestRecorderCountsAndMutating(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var rec Recorder
	client := &http.Client{Transport: rec.Wrap(http.DefaultTransport)}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/namespaces/demo/pods"},
		{"GET", "/api/v1/namespaces/demo/pods"},
		{"PATCH", "/apis/apps/v1/namespaces/demo/deployments/web"},
	} {
		req, err := http.NewRequest(c.method, srv.URL+c.path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, 3, rec.Total())
	assert.Equal(t, map[string]int{"list pods": 2, "patch deployments": 1}, rec.Counts())
	require.Len(t, rec.Mutating(), 1)
	assert.Equal(t, "web", rec.Mutating()[0].Name)
	assert.Equal(t, "list pods: 2\npatch deployments: 1\n", rec.Summary())
	assert.Equal(t, "GET /api/v1/namespaces/demo/pods x2\nPATCH /apis/apps/v1/namespaces/demo/deployments/web x1\n", rec.Paths())
	rec.Reset()
	assert.Zero(t, rec.Total())
	assert.Empty(t, rec.Mutating())
}
