// Package testenv starts the real environment the end-to-end tests and the
// demo run against: a Kubernetes control plane on loopback (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, built from their
// Go modules by build/build.sh and cached), KWOK playing the kubelets of
// fake nodes, a tiny volume provisioner, and optionally the CloudNativePG
// CRDs. In-process NATS clusters are in the public package nats/natstest.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ironflow/scaling/internal/pods"
)

// NodeSpec describes a KWOK node. Zero CPU, Memory and Pods mean "8",
// "32Gi" and 110.
type NodeSpec struct {
	Name        string
	CPU, Memory string
	Pods        int
	Labels      map[string]string
}

// Options configure Start. The zero value starts three nodes.
type Options struct {
	// Nodes to create; default kwok-node-0..2.
	Nodes []NodeSpec
	// LogDir receives <component>.log and is kept by Stop; default a
	// folder inside the environment's temporary directory, which Stop
	// removes.
	LogDir string
	// CNPG installs the CloudNativePG Cluster and Pooler CRDs.
	CNPG bool
}

// Env is a running environment.
type Env struct {
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is the admin REST config; use RESTConfig for a private copy.
	Config *rest.Config
	Client kubernetes.Interface
	// BinDir holds the control-plane binaries.
	BinDir string
	// Timings records how long each start phase took.
	Timings Timings

	dir, logDir string
	procs       []*process
	stopProv    context.CancelFunc
	provDone    chan struct{}
	stopOnce    sync.Once
	stopErr     error
}

// Timing is one measured phase of Start. The build check and the total
// run from the call of Start; every other phase from its own start (the
// controller manager, scheduler and KWOK start together and each is timed
// until its /healthz answers).
type Timing struct {
	Phase    string
	Duration time.Duration
}

// Timings are the phases of Start in order.
type Timings []Timing

// String renders the timings on one line, for logs and reports.
func (ts Timings) String() string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Phase + " " + t.Duration.Round(time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}

func (e *Env) timed(phase string, start time.Time) {
	e.Timings = append(e.Timings, Timing{Phase: phase, Duration: time.Since(start)})
}

// RepoRoot is the repository's root folder, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ChartPath is the folder of a chart under examples/charts.
func ChartPath(name string) string {
	return filepath.Join(RepoRoot(), "examples", "charts", name)
}

// Binaries builds the control plane if it is not cached yet and returns the
// folder holding it. A cold build takes ~25 min on 2 cores; a cached one
// returns at once.
func Binaries(ctx context.Context) (string, error) {
	return runBuildScript(ctx, "build.sh", "building the control plane")
}

// runBuildScript runs a script of build/ and returns the last line it
// printed (the path it built or found).
func runBuildScript(ctx context.Context, script, doing string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(RepoRoot(), "internal", "testenv", "build", script))
	// The scripts run go build or go install as a child: cancelling must
	// reach the whole group, or an orphaned compiler keeps the pipes (and
	// the lock) open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s (internal/testenv/build/%s): %w\n%s", doing, script, err, lastLines(errb.String(), 30))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1], nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Start builds (once) and starts the environment. On failure it stops what
// it started and returns an error with the failing component's log tail.
func Start(ctx context.Context, opts Options) (*Env, error) {
	t0 := time.Now()
	bin, err := Binaries(ctx)
	if err != nil {
		return nil, err
	}
	build := time.Since(t0)
	for attempt := 1; ; attempt++ {
		e := &Env{BinDir: bin, Timings: Timings{{Phase: "build check", Duration: build}}}
		err := e.startAll(ctx, opts)
		if err == nil {
			e.timed("total", t0)
			return e, nil
		}
		e.Stop()
		// Ports are free when chosen but bound seconds later; another
		// process (a parallel test package) can take one in between.
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return nil, err
		}
	}
}

// errPortTaken marks a start that failed because a component could not
// bind its port: worth another attempt with new ports.
var errPortTaken = errors.New("port taken")

func (e *Env) startAll(ctx context.Context, opts Options) error {
	var err error
	if e.dir, err = os.MkdirTemp("", "scaling-env-"); err != nil {
		return err
	}
	e.logDir = opts.LogDir
	if e.logDir == "" {
		e.logDir = filepath.Join(e.dir, "logs")
	}
	if err := os.MkdirAll(e.logDir, 0o755); err != nil {
		return err
	}
	return e.start(ctx, opts)
}

func (e *Env) start(ctx context.Context, opts Options) error {
	ports, err := FreePorts(6)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	saKey, saPub, err := e.serviceAccountKeys()
	if err != nil {
		return err
	}
	token := randomHex(16)
	tokens := filepath.Join(e.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}

	t := time.Now()
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := e.run("etcd", "--name=default", "--data-dir="+filepath.Join(e.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := waitFor(ctx, etcd, "etcd /health", func() bool { return httpOK(etcdURL+"/health", "") }); err != nil {
		return e.failure(etcd, err)
	}
	e.timed("etcd", t)

	t = time.Now()
	certDir := filepath.Join(e.dir, "apiserver")
	apiURL := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	api, err := e.run("kube-apiserver",
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort), "--cert-dir="+certDir,
		// 1.37 refuses a loopback advertise address with the default
		// reconciler; there is no kubernetes Service endpoint to keep anyway.
		"--endpoint-reconciler-type=none", "--token-auth-file="+tokens,
		// Node,RBAC rather than AlwaysAllow so RBAC mistakes fail here too.
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
		"--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass,ResourceQuota,PersistentVolumeClaimResize,LimitRanger",
	)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, api, "kube-apiserver /readyz", func() bool { return httpOK(apiURL+"/readyz", token) }); err != nil {
		return e.failure(api, err)
	}
	ca, err := caFromServingCert(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return e.failure(api, err)
	}
	caFile := filepath.Join(e.dir, "ca.crt")
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		return err
	}
	if err := e.writeKubeconfig(apiURL, ca, token); err != nil {
		return err
	}
	e.timed("kube-apiserver", t)

	// The three clients of the API server start together: they do not
	// depend on each other, and on 2 cores their start-up overlaps well.
	// No --authentication/authorization-kubeconfig: /healthz is always
	// allowed, and delegated authn only adds a poll of a ConfigMap this
	// API server never creates (noise in the logs).
	t = time.Now()
	kcm, err := e.run("kube-controller-manager", "--kubeconfig="+e.Kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--cert-dir="+filepath.Join(e.dir, "kcm"), "--service-account-private-key-file="+saKey,
		"--root-ca-file="+caFile, "--controllers=*",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--concurrent-statefulset-syncs=10")
	if err != nil {
		return err
	}
	sched, err := e.run("kube-scheduler", "--kubeconfig="+e.Kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(e.dir, "scheduler"))
	if err != nil {
		return err
	}
	kwokURL := "http://127.0.0.1:" + strconv.Itoa(kwokPort)
	kwok, err := e.run("kwok", "--kubeconfig="+e.Kubeconfig, "--config="+filepath.Join(e.BinDir, "kwok-stages", "stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
		// Without node leases KWOK's only heartbeat is the ~10 min status
		// stage, so KCM's node lifecycle controller marks every node
		// Unknown (and taints it) each 50 s grace period until KWOK
		// re-initialises it: pods would intermittently not schedule.
		"--node-lease-duration-seconds=40",
		// KWOK's default pod CIDR is 10.0.0.0/24, the service range.
		"--cidr=10.244.0.0/16")
	if err != nil {
		return err
	}
	for _, c := range []struct {
		p   *process
		url string
	}{
		{kcm, "https://127.0.0.1:" + strconv.Itoa(kcmPort) + "/healthz"},
		{sched, "https://127.0.0.1:" + strconv.Itoa(schedPort) + "/healthz"},
		{kwok, kwokURL + "/healthz"},
	} {
		if err := waitFor(ctx, c.p, c.p.name+" /healthz", func() bool { return httpOK(c.url, "") }); err != nil {
			return e.failure(c.p, err)
		}
		e.timed(c.p.name, t)
	}

	t = time.Now()
	if err := e.installStorage(ctx); err != nil {
		return e.failure(api, err)
	}
	e.startProvisioner()
	e.timed("storage", t)

	t = time.Now()
	nodes := opts.Nodes
	if len(nodes) == 0 {
		nodes = []NodeSpec{{Name: "kwok-node-0"}, {Name: "kwok-node-1"}, {Name: "kwok-node-2"}}
	}
	for _, n := range nodes {
		if err := e.createNode(ctx, n); err != nil {
			return e.failure(api, err)
		}
	}
	for _, n := range nodes {
		if err := e.waitNodeReady(ctx, n.Name); err != nil {
			return e.failure(kwok, err)
		}
	}
	e.timed("nodes Ready", t)

	if opts.CNPG {
		t = time.Now()
		if err := e.installCNPG(ctx); err != nil {
			return e.failure(api, err)
		}
		e.timed("CNPG CRDs Established", t)
	}
	return nil
}

func (e *Env) run(name string, args ...string) (*process, error) {
	p, err := startProcess(name, filepath.Join(e.BinDir, name), e.logDir, args...)
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	return p, nil
}

func (e *Env) failure(p *process, err error) error {
	lines := tail(p.log, 30)
	if p.exited() && strings.Contains(lines, "address already in use") {
		err = fmt.Errorf("%w (%w)", err, errPortTaken)
	}
	return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, p.log, lines)
}

// LogTail returns the last lines of a component's log.
func (e *Env) LogTail(component string, lines int) string {
	return tail(filepath.Join(e.logDir, component+".log"), lines)
}

// RESTConfig returns a copy of the admin REST config.
func (e *Env) RESTConfig() *rest.Config { return rest.CopyConfig(e.Config) }

// Stop stops the provisioner and every component (SIGTERM to each process
// group, SIGKILL after 5 s) and removes the temporary directory, but not a
// LogDir the caller chose. It is safe to call more than once, and after a
// failed Start.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		if e.stopProv != nil {
			e.stopProv()
			// Its informer must be gone before the API server is, or
			// client-go logs failed watches to stderr after the tests.
			<-e.provDone
		}
		for i := len(e.procs) - 1; i >= 0; i-- {
			e.procs[i].stop(5 * time.Second)
		}
		if e.dir != "" {
			e.stopErr = os.RemoveAll(e.dir)
		}
	})
	return e.stopErr
}

func (e *Env) serviceAccountKeys() (keyFile, pubFile string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	keyFile, pubFile = filepath.Join(e.dir, "sa.key"), filepath.Join(e.dir, "sa.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return "", "", err
	}
	return keyFile, pubFile, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// caFromServingCert returns the CA of the API server's self-signed serving
// certificate: the second PEM block of apiserver.crt. Clients and
// kube-controller-manager (--root-ca-file) must trust only the CA; the leaf
// is rejected as a trust anchor ("does not have the CA bit set").
func caFromServingCert(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) < 2 {
		return nil, fmt.Errorf("%s holds %d certificate(s), expected the serving cert and its CA", path, len(blocks))
	}
	return pem.EncodeToMemory(blocks[1]), nil
}

func (e *Env) writeKubeconfig(server string, ca []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["scaling-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["scaling-test"] = &clientcmdapi.Context{Cluster: "scaling-test", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "scaling-test"
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, e.Kubeconfig); err != nil {
		return err
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return err
	}
	// Tests create many objects quickly; client-go's default 5 QPS would
	// make the tests measure the client's rate limiter.
	rc.QPS, rc.Burst = 200, 400
	e.Config = rc
	e.Client, err = kubernetes.NewForConfig(rc)
	return err
}

// healthClient probes the components' health endpoints, only those: their
// serving certificates are self-signed. No keep-alive, so the probes of a
// finished start leave no idle connections behind.
var healthClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives: true,
}}

func httpOK(url, token string) bool {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddNode creates a KWOK-managed node and waits until it is Ready.
func (e *Env) AddNode(ctx context.Context, n NodeSpec) error {
	if err := e.createNode(ctx, n); err != nil {
		return err
	}
	return e.waitNodeReady(ctx, n.Name)
}

func (e *Env) createNode(ctx context.Context, n NodeSpec) error {
	if n.CPU == "" {
		n.CPU = "8"
	}
	if n.Memory == "" {
		n.Memory = "32Gi"
	}
	if n.Pods == 0 {
		n.Pods = 110
	}
	cpu, err := resource.ParseQuantity(n.CPU)
	if err != nil {
		return fmt.Errorf("node %s: cpu %q: %w", n.Name, n.CPU, err)
	}
	mem, err := resource.ParseQuantity(n.Memory)
	if err != nil {
		return fmt.Errorf("node %s: memory %q: %w", n.Name, n.Memory, err)
	}
	labels := map[string]string{"type": "kwok", "kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	for k, v := range n.Labels {
		labels[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    cpu,
		corev1.ResourceMemory: mem,
		corev1.ResourcePods:   *resource.NewQuantity(int64(n.Pods), resource.DecimalSI),
	}
	// Status is kept on create for Nodes (that is how a kubelet registers),
	// and KWOK's node-initialize stage keeps a capacity that is already
	// there. Setting it in a later patch would race with that stage, which
	// would write its own 1k CPU / 1Ti default back.
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := e.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	return nil
}

func (e *Env) waitNodeReady(ctx context.Context, name string) error {
	return waitFor(ctx, nil, "node "+name+" Ready", func() bool {
		got, err := e.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && nodeReady(got)
	})
}

// ReadyNodes counts the nodes the label selector picks whose Ready
// condition is true.
func (e *Env) ReadyNodes(ctx context.Context, selector string) (int, error) {
	list, err := e.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if nodeReady(&list.Items[i]) {
			n++
		}
	}
	return n, nil
}

// ReadyPods counts the pods of namespace matching selector that are Ready
// and not being deleted: what "N pods run" means to the person checking.
func (e *Env) ReadyPods(ctx context.Context, namespace, selector string) (int, error) {
	list, err := e.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil && pods.Ready(p) {
			n++
		}
	}
	return n, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Namespace creates a namespace unique to the test (named after it, for
// whoever reads the logs), waits for its default ServiceAccount, without
// which the ServiceAccount admission plugin refuses pods, and deletes the
// namespace at cleanup.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: namespacePrefix(t.Name())}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	})
	err = waitFor(ctx, nil, "default ServiceAccount in "+ns.Name, func() bool {
		_, err := e.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.LogTail("kube-controller-manager", 20))
	}
	return ns.Name
}

// namespacePrefix turns a test name into a GenerateName prefix: a DNS
// label of at most 63 characters once the API server adds its 5.
func namespacePrefix(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	p := strings.Trim(b.String(), "-")
	if len(p) > 50 {
		p = strings.TrimRight(p[:50], "-")
	}
	if p == "" {
		p = "t"
	}
	return p + "-"
}

// EnsureNamespace creates a namespace unless it exists.
func (e *Env) EnsureNamespace(ctx context.Context, name string) error {
	_, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Kubectl runs the environment's kubectl (built with the control plane)
// with its kubeconfig: the anchor the benchmarks time the SDK against. The
// error carries kubectl's output.
func (e *Env) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
	}
	return out, nil
}

// Median is the middle of the samples (the upper one of an even count),
// the figure every benchmark reports; ds is not reordered.
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
