// Package natstest runs a real multi-node NATS JetStream cluster inside the
// test process (nats-server embedded), with servers named like the pods of
// the official chart's StatefulSet ("<name>-0", "<name>-1", ...), so a test
// can mirror a StatefulSet's replicas onto real servers: ScaleTo starts and
// stops ordinals the way the kubelet would.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/ironflow/scaling/internal/testenv"
)

// Options configure Start. The zero value starts three servers named
// nats-0..2 with random system-account credentials.
type Options struct {
	// Name prefixes server names: "<Name>-<ordinal>". Default "nats".
	Name string
	// Size is the number of servers started; default 3.
	Size int
	// Dir holds the JetStream stores; default a temporary folder removed by
	// Shutdown.
	Dir string
	// SystemUser and SystemPassword authenticate the system account;
	// defaults "sys" and a random password.
	SystemUser, SystemPassword string
	// Routes is how many ordinals get pre-allocated ports, the most servers
	// the cluster can ever run. Default 7.
	Routes int
	// Logger receives the servers' logs; nil keeps them silent.
	Logger server.Logger
}

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
	// standalone ordinals run without a cluster block (clustering off).
	standalone map[int]bool
}

// Start starts opts.Size servers and waits until they have elected a
// JetStream meta leader that all of them follow.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Name == "" {
		opts.Name = "nats"
	}
	if opts.Size == 0 {
		opts.Size = 3
	}
	if opts.Routes == 0 {
		opts.Routes = 7
	}
	if opts.Size < 1 || opts.Size > opts.Routes {
		return nil, fmt.Errorf("natstest: size %d must be between 1 and Routes (%d)", opts.Size, opts.Routes)
	}
	if opts.SystemUser == "" {
		opts.SystemUser = "sys"
	}
	if opts.SystemPassword == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		opts.SystemPassword = hex.EncodeToString(b)
	}
	c := &Cluster{opts: opts, dir: opts.Dir, running: map[int]*server.Server{}, standalone: map[int]bool{}}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "natstest-")
		if err != nil {
			return nil, err
		}
		c.dir, c.ownDir = d, true
	}
	ports, err := testenv.FreePorts(3 * opts.Routes)
	if err != nil {
		return nil, err
	}
	c.client, c.cluster, c.monitor = ports[:opts.Routes], ports[opts.Routes:2*opts.Routes], ports[2*opts.Routes:]
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

// Name returns the server name of an ordinal.
func (c *Cluster) Name(ordinal int) string { return fmt.Sprintf("%s-%d", c.opts.Name, ordinal) }

func (c *Cluster) ordinal(name string) (int, error) {
	var i int
	if _, err := fmt.Sscanf(strings.TrimPrefix(name, c.opts.Name+"-"), "%d", &i); err != nil || c.Name(i) != name || i >= c.opts.Routes {
		return 0, fmt.Errorf("natstest: %q is not a server of cluster %s", name, c.opts.Name)
	}
	return i, nil
}

// config renders server i's configuration. Its routes list the ordinals
// below max(Size, i+1), as the official chart lists the StatefulSet's
// replicas: a bootstrapping server derives the expected meta group size from
// its routes, so listing spare slots would make it wait for servers that
// never come. A later server finds the earlier ones through its routes, and
// they learn of it by gossip.
func (c *Cluster) config(i int) string {
	n := max(c.opts.Size, i+1)
	routes := make([]string, 0, n)
	for _, p := range c.cluster[:n] {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	store := filepath.ToSlash(filepath.Join(c.dir, c.Name(i)))
	cluster := fmt.Sprintf("cluster {\n  name: ironflow\n  listen: \"127.0.0.1:%d\"\n  routes: [%s]\n}", c.cluster[i], strings.Join(routes, ", "))
	if c.standalone[i] {
		cluster = "# clustering off"
	}
	return fmt.Sprintf(`
server_name: %q
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 1GB
}
%s
accounts {
  SYS: { users: [ { user: %q, password: %q } ] }
  APP: { jetstream: enabled, users: [ { user: %q, password: %q } ] }
}
system_account: SYS
no_auth_user: %q
`, c.Name(i), c.client[i], c.monitor[i], store, cluster,
		c.opts.SystemUser, c.opts.SystemPassword, AppUser, AppPassword, AppUser)
}

func (c *Cluster) startOrdinal(i int) error {
	if i >= c.opts.Routes {
		return fmt.Errorf("natstest: ordinal %d has no route slot (Routes is %d)", i, c.opts.Routes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.running[i]; ok {
		return nil
	}
	conf := filepath.Join(c.dir, c.Name(i)+".conf")
	if err := os.WriteFile(conf, []byte(c.config(i)), 0o600); err != nil {
		return err
	}
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		return fmt.Errorf("natstest: config of %s: %w", c.Name(i), err)
	}
	o.NoSigs, o.NoLog = true, c.opts.Logger == nil
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
	return nil
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
	i, err := c.ordinal(name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("http://127.0.0.1:%d", c.monitor[i]), nil
}

// SystemCredentials returns the system account's user and password.
func (c *Cluster) SystemCredentials() (user, password string) {
	return c.opts.SystemUser, c.opts.SystemPassword
}

// Connect opens an application connection (JetStream-enabled account) to
// the running servers.
func (c *Cluster) Connect(opts ...nats.Option) (*nats.Conn, error) {
	// Tests stop servers under their clients on purpose: the resulting
	// asynchronous errors would otherwise be printed by nats.go's default
	// handler.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	return nats.Connect(strings.Join(c.ClientURLs(), ","), append([]nats.Option{quiet}, opts...)...)
}

// ConnectSystem opens a system-account connection, which the JetStream
// monitoring requests ($SYS.REQ.SERVER.PING.JSZ) need.
func (c *Cluster) ConnectSystem(opts ...nats.Option) (*nats.Conn, error) {
	return c.Connect(append([]nats.Option{nats.UserInfo(c.opts.SystemUser, c.opts.SystemPassword)}, opts...)...)
}

// Server returns a running server by name, or nil.
func (c *Cluster) Server(name string) *server.Server {
	i, err := c.ordinal(name)
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
	i, err := c.ordinal(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	s, ok := c.running[i]
	delete(c.running, i)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("natstest: %s is not running", name)
	}
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// Wipe deletes a stopped server's JetStream store: the next start is a
// server on a new, empty volume, which must resync from its peers.
func (c *Cluster) Wipe(name string) error {
	i, err := c.ordinal(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	_, running := c.running[i]
	c.mu.Unlock()
	if running {
		return fmt.Errorf("natstest: %s is running; stop it before wiping its store", name)
	}
	return os.RemoveAll(filepath.Join(c.dir, name))
}

// Restart starts a stopped server again on its old store and ports.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	i, err := c.ordinal(name)
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
	i, err := c.ordinal(name)
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

// waitRouted waits until server i has a route to every other running server.
func (c *Cluster) waitRouted(ctx context.Context, i int) error {
	return poll(ctx, "routes of "+c.Name(i), func() bool {
		c.mu.Lock()
		s, others := c.running[i], len(c.running)-1
		c.mu.Unlock()
		return s != nil && s.NumRoutes() >= others
	})
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

// WaitReady waits for a meta leader that every running server follows.
func (c *Cluster) WaitReady(ctx context.Context) error {
	if _, err := c.WaitMetaLeader(ctx); err != nil {
		return err
	}
	return poll(ctx, "every server current with the meta leader", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.running {
			if !s.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	})
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
