package natstest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ironflow/scaling/internal/ports"
)

// Options configure Start. The zero value starts three servers named
// nats-0..2 with random system-account credentials, stores in a temporary
// folder, and silent logs. Start refuses options it cannot run with an
// *OptionsError.
type Options struct {
	// Name is the StatefulSet's name: its pods are "<Name>-<ordinal>" (Pod)
	// and the servers "<ServerNamePrefix><Name>-<ordinal>" (Name). It must
	// be a DNS-1123 label, as a StatefulSet's pods' host names are. Default
	// "nats".
	Name string
	// ServerNamePrefix prefixes every server name, as the official chart's
	// config.serverNamePrefix does (server_name is $SERVER_NAME, which the
	// chart sets to the prefix followed by the pod's name). Default none:
	// server and pod names are the same. No spaces: nats-server refuses
	// them in a server name.
	ServerNamePrefix string
	// Size is the number of servers started; default 3. At least 2 (one
	// clustered server elects no meta leader) and at most Routes.
	Size int
	// Dir holds the JetStream stores and the servers' configuration files;
	// created if missing and left in place. Default a temporary folder that
	// Shutdown removes.
	Dir string
	// SystemUser and SystemPassword authenticate the system account;
	// defaults "sys" and a random password. SystemUser must differ from
	// AppUser.
	SystemUser, SystemPassword string
	// Routes is how many ordinals get pre-allocated ports, the most servers
	// the cluster can ever run (Add and ScaleTo beyond it fail): every
	// server's configuration lists the cluster ports of every ordinal it
	// may route to, so they are fixed at Start. Default 7, or Size if
	// larger.
	Routes int
	// Logger receives the servers' logs; nil keeps them silent.
	Logger server.Logger
}

// normalize fills in the defaults and validates the result.
func (o *Options) normalize() error {
	if o.Name == "" {
		o.Name = "nats"
	}
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 {
		return &OptionsError{Field: "Name", Reason: fmt.Sprintf("%q: %s", o.Name, strings.Join(errs, "; "))}
	}
	if strings.IndexFunc(o.ServerNamePrefix, unprintableOrSpace) >= 0 {
		return &OptionsError{Field: "ServerNamePrefix", Reason: fmt.Sprintf("%q has a space or control character", o.ServerNamePrefix)}
	}
	if o.Size < 0 || o.Size == 1 {
		// A lone clustered server elects no JetStream meta leader (seen:
		// none within a minute), so Start would only wait for its ctx.
		return &OptionsError{Field: "Size", Reason: fmt.Sprintf("%d: a cluster starts with 2 or more servers (a lone clustered server elects no meta leader; Standalone turns one off clustering)", o.Size)}
	}
	if o.Routes < 0 {
		return &OptionsError{Field: "Routes", Reason: fmt.Sprintf("%d is negative", o.Routes)}
	}
	if o.Size == 0 {
		o.Size = 3
	}
	if o.Routes == 0 {
		o.Routes = max(7, o.Size)
	}
	if o.Size > o.Routes {
		return &OptionsError{Field: "Size", Reason: fmt.Sprintf("%d servers need as many route slots, Routes is %d", o.Size, o.Routes)}
	}
	if o.SystemUser == "" {
		o.SystemUser = "sys"
	}
	if o.SystemUser == AppUser {
		return &OptionsError{Field: "SystemUser", Reason: fmt.Sprintf("%q is the application user", o.SystemUser)}
	}
	for _, f := range []struct{ field, v string }{{"SystemUser", o.SystemUser}, {"SystemPassword", o.SystemPassword}} {
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return &OptionsError{Field: f.field, Reason: "has a control character"}
		}
	}
	if o.SystemPassword == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		o.SystemPassword = hex.EncodeToString(b)
	}
	return nil
}

func unprintableOrSpace(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }

// Application credentials: clients that give none land in this account
// (no_auth_user), which has JetStream.
const (
	AppUser     = "app"
	AppPassword = "app"
)

// Cluster is a running in-process JetStream cluster.
type Cluster struct {
	opts   Options
	dir    string
	ownDir bool
	// ports per ordinal, allocated once so a restarted server keeps its
	// addresses and every config can list every route.
	client, cluster, monitor []int

	mu      sync.Mutex
	running map[int]*server.Server
	// standalone ordinals run without a cluster block (clustering off),
	// whatever the configuration says (Standalone).
	standalone map[int]bool
	// applied holds the settings each running server was started or last
	// reloaded with.
	applied map[int]settings
	// following is Follow's state while it runs: it gives the settings a
	// starting server reads (its pod's nats.conf); nil means the defaults.
	following *follower
	events    []Event
}

// Event is one thing that happened to a server, in order: Events lists them
// so a test can check what Follow did (and wait on it) without timing.
type Event struct {
	Server string
	Kind   string
	// Detail is the settings a server started or reloaded with, or, for a
	// refused reload, nats-server's reason.
	Detail string
}

// Event kinds.
const (
	EventStart = "start"
	EventStop  = "stop"
	EventWipe  = "wipe"
	// EventReload is a configuration reloaded in place, the server running
	// on (the config reloader's SIGHUP).
	EventReload = "reload"
	// EventReloadRefused is a reload nats-server refused: the server keeps
	// running with its previous settings, as a real one does (it logs the
	// error), until it restarts.
	EventReloadRefused = "reload refused"
	// EventReady is Follow seeing a server it restarted ready again (routed
	// to the others and healthy, the chart's startup probe), before it goes
	// on to the next server of a rolling update.
	EventReady = "ready"
)

// Events returns what happened to the servers so far, oldest first.
func (c *Cluster) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// event records an event; c.mu is held.
func (c *Cluster) event(i int, kind, detail string) {
	c.events = append(c.events, Event{Server: c.Name(i), Kind: kind, Detail: detail})
}

// Defaults of the settings a nats.conf does not give.
const (
	DefaultMaxFileStore   = 1 << 30
	DefaultMaxMemoryStore = 256 << 20
)

// settings are what natstest takes from a nats.conf into the configuration
// it renders for a server (see Follow for what is honoured and why).
type settings struct {
	cluster bool
	// routes are the ordinals the cluster block routes to.
	routes          []int
	jetstream       bool
	maxFile, maxMem int64
}

// defaultSettings are server i's settings without a configuration: clustered
// with routes to the ordinals below max(Size, i+1) (see config), JetStream
// with the default limits.
func (c *Cluster) defaultSettings(i int) settings {
	st := settings{cluster: true, jetstream: true, maxFile: DefaultMaxFileStore, maxMem: DefaultMaxMemoryStore}
	for k := range max(c.opts.Size, i+1) {
		st.routes = append(st.routes, k)
	}
	return st
}

// appliedSettings returns the settings running server i runs with.
func (c *Cluster) appliedSettings(i int) settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied[i]
}

func (s settings) equal(o settings) bool {
	return s.cluster == o.cluster && slices.Equal(s.routes, o.routes) &&
		s.jetstream == o.jetstream && s.maxFile == o.maxFile && s.maxMem == o.maxMem
}

func (s settings) String() string {
	var b strings.Builder
	if s.cluster {
		fmt.Fprintf(&b, "clustered, routes to ordinals %v", s.routes)
	} else {
		b.WriteString("clustering off")
	}
	if s.jetstream {
		fmt.Fprintf(&b, ", max_file_store %d, max_memory_store %d", s.maxFile, s.maxMem)
	} else {
		b.WriteString(", JetStream off")
	}
	return b.String()
}

// Start starts opts.Size servers and waits until they have elected a
// JetStream meta leader that all of them follow and that counts all of them
// in its group, so the cluster takes streams at once. Options it cannot run
// are an *OptionsError (ErrInvalidOptions) and nothing starts; a server that
// does not start, or a ctx that ends before the cluster is ready, stops the
// servers started so far. Call Shutdown when done.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, dir: opts.Dir, running: map[int]*server.Server{}, standalone: map[int]bool{}, applied: map[int]settings{}}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "natstest-")
		if err != nil {
			return nil, err
		}
		c.dir, c.ownDir = d, true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	free, err := ports.Free(3 * opts.Routes)
	if err != nil {
		return nil, err
	}
	c.client, c.cluster, c.monitor = free[:opts.Routes], free[opts.Routes:2*opts.Routes], free[2*opts.Routes:]
	for i := range opts.Size {
		if err := c.startOrdinal(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// Name returns the server name of an ordinal:
// "<ServerNamePrefix><Name>-<ordinal>". Every method taking a name takes
// this one.
func (c *Cluster) Name(ordinal int) string { return c.opts.ServerNamePrefix + c.Pod(ordinal) }

// Pod returns the name of the pod that runs an ordinal's server:
// "<Name>-<ordinal>".
func (c *Cluster) Pod(ordinal int) string { return fmt.Sprintf("%s-%d", c.opts.Name, ordinal) }

// ordinal returns the ordinal of a server name, or a *ServerError
// (ErrUnknownServer) for op.
func (c *Cluster) ordinal(op, name string) (int, error) {
	var i int
	prefix := c.opts.ServerNamePrefix + c.opts.Name + "-"
	if _, err := fmt.Sscanf(strings.TrimPrefix(name, prefix), "%d", &i); err != nil || !strings.HasPrefix(name, prefix) || c.Name(i) != name || i < 0 || i >= c.opts.Routes {
		return 0, c.serverError(op, name, ErrUnknownServer)
	}
	return i, nil
}

func (c *Cluster) serverError(op, name string, err error) *ServerError {
	return &ServerError{Op: op, Server: name, Cluster: c.opts.ServerNamePrefix + c.opts.Name, Err: err}
}

// podOrdinal returns the ordinal of a pod name "<Name>-<i>".
func (c *Cluster) podOrdinal(pod string) (int, bool) {
	var i int
	rest, ok := strings.CutPrefix(pod, c.opts.Name+"-")
	if !ok {
		return 0, false
	}
	if _, err := fmt.Sscanf(rest, "%d", &i); err != nil || c.Pod(i) != pod || i >= c.opts.Routes {
		return 0, false
	}
	return i, true
}

// config renders server i's configuration with st. Without a nats.conf to
// follow, its routes list the ordinals below max(Size, i+1)
// (defaultSettings), as the official chart lists the StatefulSet's
// replicas: a bootstrapping server derives the expected meta group size
// from its routes, so listing spare slots would make it wait for servers
// that never come. A later server finds the earlier ones through its
// routes, and they learn of it by gossip.
func (c *Cluster) config(i int, st settings) string {
	routes := make([]string, 0, len(st.routes))
	for _, k := range st.routes {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", c.cluster[k]))
	}
	store := filepath.ToSlash(filepath.Join(c.dir, c.Name(i)))
	cluster := fmt.Sprintf("cluster {\n  name: ironflow\n  listen: \"127.0.0.1:%d\"\n  routes: [%s]\n}", c.cluster[i], strings.Join(routes, ", "))
	if !st.cluster {
		cluster = "# clustering off"
	}
	js := fmt.Sprintf("jetstream {\n  store_dir: %q\n  max_memory_store: %d\n  max_file_store: %d\n}", store, st.maxMem, st.maxFile)
	if !st.jetstream {
		js = "jetstream: disabled"
	}
	return fmt.Sprintf(`
server_name: %q
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
%s
%s
accounts {
  SYS: { users: [ { user: %q, password: %q } ] }
  APP: { jetstream: enabled, users: [ { user: %q, password: %q } ] }
}
system_account: SYS
no_auth_user: %q
`, c.Name(i), c.client[i], c.monitor[i], js, cluster,
		c.opts.SystemUser, c.opts.SystemPassword, AppUser, AppPassword, AppUser)
}

// options writes server i's configuration file for st and reads it back as
// nats-server does.
func (c *Cluster) options(i int, st settings) (*server.Options, error) {
	conf := filepath.Join(c.dir, c.Name(i)+".conf")
	if err := os.WriteFile(conf, []byte(c.config(i, st)), 0o600); err != nil {
		return nil, err
	}
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		return nil, fmt.Errorf("natstest: config of %s: %w", c.Name(i), err)
	}
	o.NoSigs, o.NoLog = true, c.opts.Logger == nil
	imposeOrder(o)
	return o, nil
}

// imposeOrder sorts the options' lists as nats-server's reload does before
// comparing old and new options. The reload sorts the running server's
// options in place while its goroutines read them (route reconnects read
// Routes): sorted from the start, that sort swaps nothing, so it writes
// nothing.
func imposeOrder(o *server.Options) {
	slices.SortFunc(o.Routes, func(a, b *url.URL) int { return cmp.Compare(a.String(), b.String()) })
	slices.SortFunc(o.Accounts, func(a, b *server.Account) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Users, func(a, b *server.User) int { return cmp.Compare(a.Username, b.Username) })
	slices.SortFunc(o.Nkeys, func(a, b *server.NkeyUser) int { return cmp.Compare(a.Nkey, b.Nkey) })
}

// settingsFor returns the settings server i starts with: its pod's nats.conf
// while Follow runs, the defaults otherwise; Standalone turns clustering off.
func (c *Cluster) settingsFor(i int) (settings, error) {
	c.mu.Lock()
	f, standalone := c.following, c.standalone[i]
	c.mu.Unlock()
	st := c.defaultSettings(i)
	if f != nil {
		var err error
		if st, err = f.configure(i); err != nil {
			return st, err
		}
	}
	if standalone {
		st.cluster, st.routes = false, nil
	}
	return st, nil
}

func (c *Cluster) startOrdinal(i int) error {
	if i >= c.opts.Routes {
		return fmt.Errorf("natstest: ordinal %d has no route slot (Routes is %d)", i, c.opts.Routes)
	}
	if c.Server(c.Name(i)) != nil {
		return nil
	}
	st, err := c.settingsFor(i)
	if err != nil {
		return fmt.Errorf("natstest: starting %s: %w", c.Name(i), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.running[i]; ok {
		return nil
	}
	o, err := c.options(i, st)
	if err != nil {
		return err
	}
	s, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("natstest: %s: %w", c.Name(i), err)
	}
	if c.opts.Logger != nil {
		s.SetLoggerV2(c.opts.Logger, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("natstest: %s did not accept connections within 10s", c.Name(i))
	}
	c.running[i] = s
	c.applied[i] = st
	c.event(i, EventStart, st.String())
	return nil
}

// reload applies st to running server i in place, as nats-server does on
// SIGHUP (the config reloader's signal): it rewrites the server's
// configuration file and reloads it. nats-server refuses what it cannot
// change at run time (clustering on or off, lower JetStream limits, ...);
// the server then keeps its settings, and reload returns the reason.
func (c *Cluster) reload(i int, st settings) (refused error, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.running[i]
	if !ok {
		return nil, c.serverError("reload", c.Name(i), ErrNotRunning)
	}
	o, err := c.options(i, st)
	if err != nil {
		return nil, err
	}
	if err := s.ReloadOptions(o); err != nil {
		c.event(i, EventReloadRefused, err.Error())
		return err, nil
	}
	c.applied[i] = st
	c.event(i, EventReload, st.String())
	return nil, nil
}

// ServerNames returns the running servers' names by ordinal.
func (c *Cluster) ServerNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ords []int
	for i := range c.running {
		ords = append(ords, i)
	}
	sort.Ints(ords)
	names := make([]string, len(ords))
	for k, i := range ords {
		names[k] = c.Name(i)
	}
	return names
}

// ClientURLs returns the client URLs of the running servers.
func (c *Cluster) ClientURLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var urls []string
	for i := range c.running {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", c.client[i]))
	}
	sort.Strings(urls)
	return urls
}

// MonitorURL returns the HTTP monitoring URL of a server.
func (c *Cluster) MonitorURL(name string) (string, error) {
	i, err := c.ordinal("monitor URL", name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("http://127.0.0.1:%d", c.monitor[i]), nil
}

// SystemCredentials returns the system account's user and password.
func (c *Cluster) SystemCredentials() (user, password string) {
	return c.opts.SystemUser, c.opts.SystemPassword
}

// Connect opens an application connection (account APP, with JetStream) to
// the running servers; opts come after natstest's own and so override them.
// With no server running it returns ErrNotRunning rather than let nats.go
// fall back to its default URL (a NATS server on localhost:4222 that is not
// the test's).
func (c *Cluster) Connect(opts ...nats.Option) (*nats.Conn, error) {
	urls := c.ClientURLs()
	if len(urls) == 0 {
		return nil, fmt.Errorf("natstest: connect: no server is running: %w", ErrNotRunning)
	}
	// Tests stop servers under their clients on purpose: the resulting
	// asynchronous errors would otherwise be printed by nats.go's default
	// handler.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	return nats.Connect(strings.Join(urls, ","), append([]nats.Option{quiet}, opts...)...)
}

// ConnectSystem opens a system-account connection, which the JetStream
// monitoring requests ($SYS.REQ.SERVER.PING.JSZ) need.
func (c *Cluster) ConnectSystem(opts ...nats.Option) (*nats.Conn, error) {
	return c.Connect(append([]nats.Option{nats.UserInfo(c.opts.SystemUser, c.opts.SystemPassword)}, opts...)...)
}

// Server returns a running server by name, or nil.
func (c *Cluster) Server(name string) *server.Server {
	i, err := c.ordinal("server", name)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[i]
}

// Stop shuts a server down, keeping its store for Restart. It is a plain
// shutdown, not lame-duck mode: the server refuses a lame-duck duration under
// 30 s, too slow for tests, and clients reconnect to the others either way.
func (c *Cluster) Stop(name string) error {
	i, err := c.ordinal("stop", name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	s, ok := c.running[i]
	delete(c.running, i)
	c.mu.Unlock()
	if !ok {
		return c.serverError("stop", name, ErrNotRunning)
	}
	s.Shutdown()
	s.WaitForShutdown()
	c.mu.Lock()
	delete(c.applied, i)
	c.event(i, EventStop, "")
	c.mu.Unlock()
	return nil
}

// Wipe deletes a stopped server's JetStream store: the next start is a
// server on a new, empty volume, which must resync from its peers.
func (c *Cluster) Wipe(name string) error {
	i, err := c.ordinal("wipe", name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	_, running := c.running[i]
	c.mu.Unlock()
	if running {
		return c.serverError("wipe", name, ErrRunning)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, name)); err != nil {
		return err
	}
	c.mu.Lock()
	c.event(i, EventWipe, "")
	c.mu.Unlock()
	return nil
}

// Restart starts a stopped server again on its old store and ports.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	i, err := c.ordinal("restart", name)
	if err != nil {
		return err
	}
	if err := c.startOrdinal(i); err != nil {
		return err
	}
	return c.waitRouted(ctx, i)
}

// Standalone restarts a server without clustering, on its old store and
// ports: the pod a StatefulSet restarts after clustering was turned off in
// its configuration. JetStream then recovers the streams in its store as
// single-server streams.
func (c *Cluster) Standalone(name string) error {
	i, err := c.ordinal("standalone", name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	_, running := c.running[i]
	c.standalone[i] = true
	c.mu.Unlock()
	if running {
		if err := c.Stop(name); err != nil {
			return err
		}
	}
	return c.startOrdinal(i)
}

// Add starts the lowest ordinal that is not running and returns its name
// once it is routed to the others.
func (c *Cluster) Add(ctx context.Context) (string, error) {
	c.mu.Lock()
	i := 0
	for ; ; i++ {
		if _, ok := c.running[i]; !ok {
			break
		}
	}
	c.mu.Unlock()
	if err := c.startOrdinal(i); err != nil {
		return "", err
	}
	return c.Name(i), c.waitRouted(ctx, i)
}

// ScaleTo mirrors a StatefulSet's replicas: it starts every ordinal below n
// that is not running and stops every ordinal at or above n, highest first,
// the order in which a StatefulSet removes pods.
func (c *Cluster) ScaleTo(ctx context.Context, n int) error {
	c.mu.Lock()
	var stop []int
	for i := range c.running {
		if i >= n {
			stop = append(stop, i)
		}
	}
	c.mu.Unlock()
	sort.Sort(sort.Reverse(sort.IntSlice(stop)))
	for _, i := range stop {
		if err := c.Stop(c.Name(i)); err != nil {
			return err
		}
	}
	for i := range n {
		if c.Server(c.Name(i)) == nil {
			if err := c.startOrdinal(i); err != nil {
				return err
			}
			if err := c.waitRouted(ctx, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitRouted waits until server i has a route to every other running
// server, when clustered (a server with clustering off routes to none, and
// none to it).
func (c *Cluster) waitRouted(ctx context.Context, i int) error {
	return poll(ctx, "routes of "+c.Name(i), func() bool { return c.routed(i) })
}

func (c *Cluster) routed(i int) bool {
	c.mu.Lock()
	s, st := c.running[i], c.applied[i]
	others := 0
	for j := range c.running {
		if j != i && c.applied[j].cluster {
			others++
		}
	}
	c.mu.Unlock()
	return s != nil && (!st.cluster || s.NumRemotes() >= others)
}

// waitHealthy waits until server i is routed to the others and answers
// /healthz with 200, the official chart's startup probe (JetStream current
// with the meta leader, and every stream and consumer it holds current):
// the readiness a StatefulSet's rolling update waits for before it moves on.
func (c *Cluster) waitHealthy(ctx context.Context, i int) error {
	return poll(ctx, c.Name(i)+" routed and healthy (/healthz)", func() bool { return c.healthy(i) })
}

func (c *Cluster) healthy(i int) bool {
	if !c.routed(i) {
		return false
	}
	s := c.Server(c.Name(i))
	return s != nil && s.Healthz(&server.HealthzOptions{}).StatusCode == http.StatusOK
}

// WaitMetaLeader waits until a running server leads the JetStream meta group
// and returns its name.
func (c *Cluster) WaitMetaLeader(ctx context.Context) (string, error) {
	var leader string
	err := poll(ctx, "a JetStream meta leader", func() bool {
		leader = ""
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, s := range c.running {
			if s.JetStreamIsLeader() {
				leader = c.Name(i)
			}
		}
		return leader != ""
	})
	return leader, err
}

// WaitReady waits for a meta leader that every running server follows and
// that counts every running clustered server as a current peer. A server
// being current with the log is not enough: a server that joined late is
// caught up before the leader has added it to the meta group (seen in CI:
// three servers current, the leader's group of two).
func (c *Cluster) WaitReady(ctx context.Context) error {
	if _, err := c.WaitMetaLeader(ctx); err != nil {
		return err
	}
	return poll(ctx, "every server current with the meta leader and in its group", c.ready)
}

func (c *Cluster) ready() bool {
	c.mu.Lock()
	var leader *server.Server
	peers := map[string]bool{}
	for i, s := range c.running {
		if !s.JetStreamIsCurrent() {
			c.mu.Unlock()
			return false
		}
		if s.JetStreamIsLeader() {
			leader = s
		} else if c.applied[i].cluster {
			peers[c.Name(i)] = false
		}
	}
	c.mu.Unlock()
	if leader == nil {
		return false
	}
	info, err := leader.Jsz(&server.JSzOptions{LeaderOnly: true})
	if err != nil || info.Meta == nil {
		return len(peers) == 0
	}
	for _, p := range info.Meta.Replicas {
		if _, ok := peers[p.Name]; ok && p.Current && !p.Offline && !p.Pending {
			peers[p.Name] = true
		}
	}
	for _, in := range peers {
		if !in {
			return false
		}
	}
	return true
}

// Shutdown stops every server and removes the store if Start created it.
func (c *Cluster) Shutdown() {
	c.mu.Lock()
	servers := c.running
	c.running = map[int]*server.Server{}
	c.mu.Unlock()
	for _, s := range servers {
		s.Shutdown()
	}
	for _, s := range servers {
		s.WaitForShutdown()
	}
	c.mu.Lock()
	c.applied = map[int]settings{}
	c.mu.Unlock()
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}

// poll checks cond every 20 ms until it holds or ctx ends. Elections have
// rare multi-second outliers, so callers bound it with a deadline, never a
// fixed sleep.
func poll(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natstest: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
