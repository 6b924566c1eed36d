package redis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/chaos"
)

// EnvTestCluster names an existing Redis Cluster for the cluster tests, as
// comma-separated seed addresses. Unset, the tests start their own
// three-master cluster on free loopback ports.
const EnvTestCluster = "BROKERBENCH_TEST_REDIS_CLUSTER"

func TestMain(m *testing.M) {
	code := m.Run()
	stopCluster()
	os.Exit(code)
}

var (
	clusterOnce  sync.Once
	clusterAddrs []string
	clusterErr   error
	clusterProcs []*chaos.Process
)

// testCluster returns the seed addresses of a three-master Redis Cluster,
// started once per test binary. Without redis-server and redis-cli the test
// is skipped with a message naming them, or fails with CI=true.
func testCluster(t testing.TB) []string {
	t.Helper()
	clusterOnce.Do(func() {
		if v := os.Getenv(EnvTestCluster); v != "" {
			clusterAddrs = strings.Split(v, ",")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		clusterAddrs, clusterErr = startCluster(ctx)
	})
	if clusterErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis cluster required: %v", clusterErr)
		}
		t.Skipf("redis cluster unavailable (%v); skipping (set CI=true to fail instead)", clusterErr)
	}
	return clusterAddrs
}

// startCluster starts three cluster-enabled redis-servers without
// persistence on free loopback ports (each with its bus port, port+10000,
// free too), joins them with redis-cli --cluster create, and waits until
// every node reports cluster_state:ok.
func startCluster(ctx context.Context) ([]string, error) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not on $PATH: %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli not on $PATH: %w", err)
	}
	dir, err := os.MkdirTemp("", "brokerbench-redis-cluster-")
	if err != nil {
		return nil, err
	}
	var addrs []string
	for len(addrs) < 3 {
		port, err := clusterPort()
		if err != nil {
			return nil, err
		}
		p, err := chaos.NewProcess(clusterNode(server, fmt.Sprintf("%s/%d", dir, port), port))
		if err != nil {
			return nil, err
		}
		clusterProcs = append(clusterProcs, p)
		if err := p.Start(ctx); err != nil {
			return nil, fmt.Errorf("start cluster node on port %d: %w; output: %s", port, err, p.Output())
		}
		addrs = append(addrs, p.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, out)
	}
	for _, a := range addrs {
		if err := waitClusterOK(ctx, a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// clusterNode is one cluster-enabled redis-server on 127.0.0.1:port with
// its own data directory and no persistence.
func clusterNode(bin, dataDir string, port int) chaos.ProcessConfig {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return chaos.ProcessConfig{
		Name: "redis-server",
		Path: bin,
		Args: []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dataDir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		},
		DataDir: dataDir,
		Addr:    addr,
		Ready: func(ctx context.Context, addr string) error {
			c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		},
	}
}

// clusterPort returns a free port whose cluster bus port (+10000) is free
// too.
func clusterPort() (int, error) {
	for range 20 {
		port, err := chaos.FreePort("127.0.0.1")
		if err != nil {
			return 0, err
		}
		if port+10000 > 65535 {
			continue
		}
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			_ = ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port pair (port, port+10000) for a cluster node")
}

// waitClusterOK polls CLUSTER INFO on addr until cluster_state:ok.
func waitClusterOK(ctx context.Context, addr string) error {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster node %s not ok: %v, last CLUSTER INFO %q", addr, ctx.Err(), info)
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

func stopCluster() {
	for _, p := range clusterProcs {
		_ = p.Close()
	}
}

// newClusterRedis connects the adapter to the test cluster through its
// seed list (several addresses select the cluster client).
func newClusterRedis(t testing.TB) *Redis {
	t.Helper()
	cfg := Config{}.Default()
	cfg.Addrs = testCluster(t)
	cfg.Block = 100 * time.Millisecond
	r, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New on the cluster: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestClusterConformance(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, func(t *testing.T) adapters.System { return newClusterRedis(t) })
}

// TestClusterSpreadsTopics: the cluster client is in use (Info names the
// cluster endpoint) and the topics of one system land on more than one
// master, which is how the adapter scales on a cluster.
func TestClusterSpreadsTopics(t *testing.T) {
	t.Parallel()
	r := newClusterRedis(t)
	if _, ok := r.admin.(*goredis.ClusterClient); !ok {
		t.Fatalf("admin client is %T, want a *ClusterClient", r.admin)
	}
	info, err := r.Info(t.Context())
	if err != nil || !strings.HasSuffix(info.Endpoint, "(cluster)") {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	cc := r.admin.(*goredis.ClusterClient)
	masters := map[string]bool{}
	for range 12 {
		topic := newTopic(t, r, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
		node, err := cc.MasterForKey(t.Context(), r.layout.stream(topic, 0))
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
		p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "spread"})
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 1, Value: []byte("x")})
	}
	if len(masters) < 2 {
		t.Fatalf("12 topics all on masters %v; hash tags should spread topics over the cluster", masters)
	}
	t.Logf("12 topics on %d masters", len(masters))
}

// TestClusterSpreadsPartitions: on a cluster each partition stream has its
// own hash tag, so one topic's partitions land on more than one master, and
// the adapter still works across them: sends to every partition, Lag per
// partition read from each partition's own master, a consumer that reads
// every partition (one XREADGROUP each), and rejects dead-lettered into the
// per-partition dead-letter streams, counted by DeadLettered and deleted
// with the topic.
func TestClusterSpreadsPartitions(t *testing.T) {
	t.Parallel()
	r := newClusterRedis(t)
	cc := r.admin.(*goredis.ClusterClient)
	const parts = 12
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: parts, Subscriptions: []string{"s"}, DeadLetter: true})
	masters := map[string]bool{}
	for p := range parts {
		node, err := cc.MasterForKey(t.Context(), r.layout.stream(topic, p))
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Fatalf("the %d partitions of one topic all on masters %v; want them spread", parts, masters)
	}
	t.Logf("%d partitions of one topic on %d masters", parts, len(masters))

	prod := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "spread-parts"})
	for p := range parts {
		adaptertest.SendSync(t, prod, &adapters.Message{Topic: topic, Partition: int32(p), Value: []byte(strconv.Itoa(p))})
	}
	lag, err := r.Lag(t.Context(), topic, "s")
	if err != nil || len(lag) != parts {
		t.Fatalf("Lag = %v, %v; want %d partitions", lag, err, parts)
	}
	for p, n := range lag {
		if n != 1 {
			t.Fatalf("Lag of partition %d = %d, want 1 (lag %v)", p, n, lag)
		}
	}

	var mu sync.Mutex
	seen := map[int32]bool{}
	c := adaptertest.NewConsumer(t, r, adaptertest.ConsumerConfig(topic, "s", parts, func(d *adapters.Delivery) {
		mu.Lock()
		defer mu.Unlock()
		seen[d.Partition] = true
		if d.Partition%2 == 1 {
			d.Disposition = adapters.Reject
		}
	}))
	adaptertest.WaitFor(t, 30*time.Second, "every partition delivered and settled", func() bool {
		lag, err := r.Lag(t.Context(), topic, "s")
		total := int64(0)
		for _, n := range lag {
			total += n
		}
		mu.Lock()
		defer mu.Unlock()
		return err == nil && len(seen) == parts && total == 0
	})
	if n, err := r.DeadLettered(t.Context(), topic, "s"); err != nil || n != parts/2 {
		t.Fatalf("DeadLettered = %d, %v; want %d (odd partitions rejected)", n, err, parts/2)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteTopic(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		keys := []string{r.layout.stream(topic, p), r.layout.dlq(topic, "s", p)}
		for _, k := range keys {
			if n := r.admin.Exists(t.Context(), k).Val(); n != 0 {
				t.Fatalf("%s still exists after DeleteTopic", k)
			}
		}
	}
}
