package redact

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/values"
)

func TestDefaultSensitiveKeys(t *testing.T) {
	var r *Redactor
	for _, k := range []string{"password", "adminPassword", "DB_PASSWORD", "PGPASSWORD", "passwd", "passphrase", "jwtSecret", "existingSecret",
		"secrets", "token", "GITHUB_TOKEN", "credentials", "apiKey", "api_key", "accessKey", "key", "keys", "tls.key", "SSH_KEY", "privateKey", "jwt-secret"} {
		assert.True(t, r.SensitiveKey(k), k)
	}
	for _, k := range []string{"replicaCount", "monkey", "keepalive", "keySize", "hosts", "poolSize", "name", "value", "image", "max_connections"} {
		assert.False(t, r.SensitiveKey(k), k)
	}
}

func TestValuesRedactsSecretsAndKeepsEverythingElse(t *testing.T) {
	r, err := New(scaling.Redaction{Paths: []string{"config.signingSeed"}})
	require.NoError(t, err)
	in := map[string]any{
		"replicaCount": int64(3),
		"auth":         map[string]any{"adminPassword": "hunter2", "tokenEnabled": true, "user": "admin"},
		"secrets":      map[string]any{"db": "s3cret", "list": []any{"a", "b"}},
		"config":       map[string]any{"signingSeed": map[string]any{"value": "seed"}, "port": int64(4222)},
		"env":          []any{map[string]any{"name": "DB_PASSWORD", "value": "pw"}, map[string]any{"name": "LOG_LEVEL", "value": "debug"}},
	}
	before := values.Copy(in)
	out := r.Values(in)

	eq, err := values.Equal(before, in)
	require.NoError(t, err)
	assert.True(t, eq, "the input is not changed")

	assert.Equal(t, int64(3), out["replicaCount"])
	auth := out["auth"].(map[string]any)
	assert.True(t, IsPlaceholder(auth["adminPassword"].(string)))
	assert.Equal(t, true, auth["tokenEnabled"], "a boolean is not a secret")
	assert.Equal(t, "admin", auth["user"])
	sec := out["secrets"].(map[string]any)
	assert.True(t, IsPlaceholder(sec["db"].(string)), "a secret key marks its subtree")
	assert.True(t, IsPlaceholder(sec["list"].([]any)[1].(string)))
	cfg := out["config"].(map[string]any)
	assert.True(t, IsPlaceholder(cfg["signingSeed"].(map[string]any)["value"].(string)), "a path the caller marked")
	assert.Equal(t, int64(4222), cfg["port"])
	env := out["env"].([]any)
	assert.True(t, IsPlaceholder(env[0].(map[string]any)["value"].(string)), "an environment variable named like a secret")
	assert.Equal(t, "DB_PASSWORD", env[0].(map[string]any)["name"])
	assert.Equal(t, "debug", env[1].(map[string]any)["value"])

	again := r.Values(in)
	assert.Equal(t, out, again, "the same state redacts to the same text: Apply compares a stored plan with a derived one")
	in["auth"].(map[string]any)["adminPassword"] = "hunter3"
	assert.NotEqual(t, auth["adminPassword"], r.Values(in)["auth"].(map[string]any)["adminPassword"], "a changed secret shows as changed")
	assert.NotContains(t, Placeholder("a", "hunter2"), "hunter2")
}

func TestACallerPatternReplacesTheDefault(t *testing.T) {
	r, err := New(scaling.Redaction{Keys: regexp.MustCompile(`^seed$`)})
	require.NoError(t, err)
	out := r.Values(map[string]any{"seed": "x", "password": "y"})
	assert.True(t, IsPlaceholder(out["seed"].(string)))
	assert.Equal(t, "y", out["password"])
	_, err = New(scaling.Redaction{Paths: []string{"a..b"}})
	var invalid *scaling.InvalidInputError
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, "Options.Redaction.Paths[0]", invalid.Field)
}

func TestManifestRedactsEverySecretsData(t *testing.T) {
	objs, err := manifest.Parse(`apiVersion: v1
kind: Secret
metadata:
  name: app-auth
data:
  config.yaml: c2VjcmV0
stringData:
  url: postgres://app:pw@db/app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  LOG_LEVEL: debug
`, "demo")
	require.NoError(t, err)
	var r *Redactor
	out, err := r.Manifest(objs)
	require.NoError(t, err)
	secret := out["demo, app-auth, Secret (v1)"]
	assert.NotContains(t, secret.YAML, "c2VjcmV0")
	assert.NotContains(t, secret.YAML, "postgres://app:pw@db/app")
	assert.Contains(t, secret.YAML, "config.yaml: (sensitive sha256:", "keys stay, values go")
	assert.Contains(t, objs["demo, app-auth, Secret (v1)"].YAML, "c2VjcmV0", "the input is not changed")
	cm := out["demo, app, ConfigMap (v1)"]
	assert.Equal(t, objs["demo, app, ConfigMap (v1)"].YAML, cm.YAML, "an object without secrets keeps Helm's text")
}

func TestTextRedactsStepsAtSecretPaths(t *testing.T) {
	var r *Redactor
	assert.Equal(t, "5", r.Text("replicaCount", "5"))
	shown := r.Text("auth.adminPassword", "hunter2")
	assert.True(t, IsPlaceholder(shown))
	assert.Equal(t, shown, r.Text("auth.adminPassword", shown), "redacting twice changes nothing")
	assert.Equal(t, "", r.Text("auth.adminPassword", ""))
}

// An object's references to secrets stay readable (a reviewer needs to see
// which Secret an env var reads); what it holds in clear is redacted.
func TestObjectsKeepReferencesAndLoseWhatTheyHold(t *testing.T) {
	objs, err := manifest.Parse(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      imagePullSecrets:
      - name: registry
      volumes:
      - name: tls
        secret:
          secretName: app-tls
          items:
          - key: tls.key
            path: tls.key
      containers:
      - name: app
        env:
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef:
              name: app-pg
              key: password
        - name: API_TOKEN
          value: tok-DO-NOT-SHOW
        envFrom:
        - secretRef:
            name: app-env
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: legacy
data:
  DB_PASSWORD: pw-DO-NOT-SHOW
  LOG_LEVEL: debug
`, "demo")
	require.NoError(t, err)
	var r *Redactor
	out, err := r.Manifest(objs)
	require.NoError(t, err)
	app := out["demo, app, Deployment (apps/v1)"].YAML
	for _, ref := range []string{"name: registry", "secretName: app-tls", "key: tls.key", "name: app-pg", "key: password", "name: app-env", "name: DB_PASSWORD"} {
		assert.Contains(t, app, ref)
	}
	assert.NotContains(t, app, "tok-DO-NOT-SHOW")
	cm := out["demo, legacy, ConfigMap (v1)"].YAML
	assert.NotContains(t, cm, "pw-DO-NOT-SHOW")
	assert.Contains(t, cm, "LOG_LEVEL: debug")
}
