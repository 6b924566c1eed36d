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
		node, err := cc.MasterForKey(t.Context(), streamKey(topic, 0))
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
