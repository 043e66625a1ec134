package natstest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// officialConf is nats.conf as the official nats-io/k8s chart 2.14.2 renders
// it (helm template with fullnameOverride=ironflow-nats,
// config.cluster.enabled=true, config.jetstream.enabled=true): JSON-style,
// keys sorted, sizes and $SERVER_NAME unquoted.
const officialConf = `{
  "cluster": {
    "name": "ironflow-nats",
    "no_advertise": true,
    "port": 6222,
    "routes": [
      "nats://ironflow-nats-0.ironflow-nats-headless:6222",
      "nats://ironflow-nats-1.ironflow-nats-headless:6222",
      "nats://ironflow-nats-2.ironflow-nats-headless:6222"
    ]
  },
  "http_port": 8222,
  "jetstream": {
    "max_file_store": 10Gi,
    "max_memory_store": 0,
    "store_dir": "/data"
  },
  "lame_duck_duration": "30s",
  "lame_duck_grace_period": "10s",
  "pid_file": "/var/run/nats/nats.pid",
  "port": 4222,
  "server_name": $SERVER_NAME
}
`

// handWrittenConf is the reference chart's nats.conf before it followed the
// official chart: the classic syntax, $POD_NAME as the server name.
const handWrittenConf = `# Rendered by the ironflow chart; mirrors the official nats-io/k8s chart.
# $POD_NAME is resolved by nats-server from the container environment
# (the official chart's $SERVER_NAME adds config.serverNamePrefix).
server_name: $POD_NAME
port: 4222
http_port: 8222
pid_file: /var/run/nats.pid
lame_duck_grace_period: 10s
lame_duck_duration: 30s

cluster {
  name: ironflow-nats
  port: 6222
  no_advertise: true
  routes: [
    nats://ironflow-nats-0.ironflow-nats-headless:6222
    nats://ironflow-nats-1.ironflow-nats-headless:6222
  ]
}

jetstream {
  store_dir: "/data"
  max_file_store: 20Gi
}
`

func TestParseConfOfficialJSONStyle(t *testing.T) {
	c, err := ParseConf(officialConf, map[string]string{"SERVER_NAME": "east-ironflow-nats-1", "POD_NAME": "ironflow-nats-1"})
	require.NoError(t, err)
	assert.Equal(t, &Conf{
		ServerName: "east-ironflow-nats-1",
		Cluster:    true,
		Routes: []string{
			"nats://ironflow-nats-0.ironflow-nats-headless:6222",
			"nats://ironflow-nats-1.ironflow-nats-headless:6222",
			"nats://ironflow-nats-2.ironflow-nats-headless:6222",
		},
		JetStream:      true,
		MaxFileStore:   10 << 30,
		MaxMemoryStore: 0, // set, to zero: no memory store
	}, c)
}

func TestParseConfHandWritten(t *testing.T) {
	c, err := ParseConf(handWrittenConf, map[string]string{"POD_NAME": "ironflow-nats-0", "SERVER_NAME": "east-ironflow-nats-0"})
	require.NoError(t, err, "a variable the config mentions only in a comment is no unknown field")
	assert.Equal(t, "ironflow-nats-0", c.ServerName)
	assert.True(t, c.Cluster)
	assert.Len(t, c.Routes, 2)
	assert.True(t, c.JetStream)
	assert.Equal(t, int64(20<<30), c.MaxFileStore)
	assert.Equal(t, int64(-1), c.MaxMemoryStore, "not set")
}

func TestParseConfWithoutClusterOrJetStream(t *testing.T) {
	c, err := ParseConf(`{"port": 4222, "server_name": $SERVER_NAME}`, map[string]string{"SERVER_NAME": "nats-0"})
	require.NoError(t, err)
	assert.Equal(t, &Conf{ServerName: "nats-0", MaxFileStore: -1, MaxMemoryStore: -1}, c)

	c, err = ParseConf("server_name: nats-0\njetstream: enabled\n", nil)
	require.NoError(t, err)
	assert.False(t, c.Cluster)
	assert.True(t, c.JetStream)
	assert.Equal(t, int64(-1), c.MaxFileStore)
}

func TestParseConfRefusesWhatNATSServerRefuses(t *testing.T) {
	_, err := ParseConf(officialConf, nil)
	assert.ErrorContains(t, err, "SERVER_NAME", "an undefined variable, as in a pod without the variable")
	_, err = ParseConf("server_name: a\nno_such_option: 1\n", nil)
	assert.ErrorContains(t, err, "no_such_option")
	_, err = ParseConf(`{"cluster": {"port": 6222`, nil)
	assert.Error(t, err)
	_, err = ParseConf("server_name: $X\nport: 1\nbad line here", map[string]string{"X": "x"})
	assert.ErrorContains(t, err, "line 3", "line numbers count the config's own lines")
}

func TestExpandEnvLikeTheKubelet(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "SERVER_NAME", Value: "east-$(POD_NAME)"},
		{Name: "LITERAL", Value: "$$(POD_NAME) $(UNKNOWN)"},
		{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
	}
	assert.Equal(t, map[string]string{
		"POD_NAME":    "nats-2",
		"SERVER_NAME": "east-nats-2",
		"LITERAL":     "$(POD_NAME) $(UNKNOWN)",
	}, expandEnv(env, "nats-2", "ns"))
}
