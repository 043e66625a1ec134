// Package natstest runs a real multi-node NATS JetStream cluster inside the
// test process, the way net/http/httptest runs an HTTP server: for tests of
// tools that embed package nats (or talk JetStream in any other way) that
// need real Raft elections, real stream placement and real monitoring
// answers, without a cluster of their own.
//
// The servers are nats-server linked as a library (package nats, whose
// operations these tests exercise, never links it), listen on loopback ports
// chosen at Start, and store JetStream data in a folder of their own. They
// are named like the pods of the official chart's StatefulSet
// ("<Name>-0", "<Name>-1", ..., after the chart's config.serverNamePrefix if
// any), so a test can mirror a StatefulSet onto them:
//
//   - Start starts the cluster and returns once a JetStream meta leader
//     counts every server in its group; Shutdown stops it.
//   - Connect opens a connection in the application account (APP, with
//     JetStream; AppUser and AppPassword, also the no_auth_user), and
//     ConnectSystem one in the system account, which monitoring and meta
//     requests ($SYS.REQ.SERVER.PING.JSZ, peer-remove) need. Hand both to
//     nats.Options{System: ..., Accounts: map[string]*natsgo.Conn{"APP": ...}}.
//   - Stop, Restart, Wipe, Standalone, Add and ScaleTo do to one server what
//     the kubelet, a lost volume or a StatefulSet's scale does to a pod.
//   - Follow plays the kubelet, the StatefulSet's rolling update and the
//     chart's config reloader for a StatefulSet seen through any
//     kubernetes.Interface (a real API server, or client-go's fake
//     clientset): one Helm upgrade of the release then drives both the
//     Kubernetes objects and the real servers.
//
// Every wait is bounded by the context it is given, never by a fixed sleep:
// elections have rare multi-second outliers. Mistakes of the test itself are
// typed errors: *OptionsError (ErrInvalidOptions) from Start, *ServerError
// (ErrUnknownServer, ErrNotRunning, ErrRunning) from the per-server methods.
package natstest
