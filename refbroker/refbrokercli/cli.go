// Package refbrokercli is refbroker's command line: its flags, their
// checks and the serve-until-cancelled loop. cmd/refbroker is a main
// around [Main]; brokerbench calls the same [Main] when it runs refbroker
// as its own subprocess (suite/systems), so the two cannot drift apart.
// One subcommand, "scram-credential", prints a SCRAM users-file line
// (see [scramCredential]). See docs/refbroker.md for flags and behaviour.
//
// Exit codes: 0 after a clean shutdown, 1 if the broker failed to start or
// to close cleanly, 2 for invalid flags.
package refbrokercli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Main parses args (without the program name), starts the broker and
// serves until SIGINT or SIGTERM. It returns the process exit code.
func Main(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stderr)
}

// run parses args, starts the broker and blocks until ctx is done. It
// returns the process exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == scramCommand {
		return scramCredential(args[1:], os.Stdin, os.Stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "refbroker: %v\n", err)
		return 2
	}
	if cfg.cpuProfile != "" {
		stopProfile, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "refbroker: %v\n", err)
			return 1
		}
		// Deferred, so it runs after Close: the profile covers the
		// whole run and is complete once the process exits 0 or 1.
		defer func() {
			if err := stopProfile(); err != nil {
				fmt.Fprintf(stderr, "refbroker: %v\n", err)
			}
		}()
	}
	b, err := refbroker.Start(ctx, cfg.Config)
	if err != nil {
		fmt.Fprintf(stderr, "refbroker: %v\n", err)
		return 1
	}
	<-ctx.Done()
	if err := b.Close(); err != nil {
		fmt.Fprintf(stderr, "refbroker: close: %v\n", err)
		return 1
	}
	return 0
}

// options are the parsed flags: the broker's config and the settings of
// the process around it.
type options struct {
	refbroker.Config
	// cpuProfile is a file to write a Go CPU profile of the whole run
	// to (--cpu-profile); empty for none.
	cpuProfile string
}

// startCPUProfile starts a CPU profile written to path and returns the
// func that stops it and closes the file.
func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: start: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpu-profile: write %s: %w", path, err)
		}
		return nil
	}, nil
}

// parseFlags turns command-line flags into a broker config and process
// options. Every error names the flag at fault.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("refbroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       options
		fsync     = storage.FsyncInterval
		logLevel  = slog.LevelInfo
		autoTopic = true
	)
	fs.StringVar(&cfg.DataDir, "data-dir", "./refbroker-data", "directory for partition logs, group offsets and topic metadata")
	fs.StringVar(&cfg.Listen, "listen", refbroker.DefaultListen, "TCP address to listen on")
	fs.StringVar(&cfg.Advertise, "advertise", "", "host:port advertised to clients (default: the bound address)")
	partitions := fs.Int("partitions", 1, "partitions of auto-created topics")
	fs.BoolVar(&autoTopic, "auto-create-topics", true, "create unknown topics named in Metadata requests")
	fs.Int64Var(&cfg.Storage.SegmentBytes, "segment-bytes", storage.DefaultSegmentBytes, "segment file size in bytes")
	fs.Int64Var(&cfg.Storage.MaxMessageBytes, "max-message-bytes", storage.DefaultMaxMessageBytes, "largest record batch accepted, in bytes (Kafka max.message.bytes)")
	fs.Int64Var(&cfg.Storage.RetentionBytes, "retention-bytes", -1, "per-partition size bound in bytes; -1 unlimited")
	fs.DurationVar(&cfg.Storage.Retention, "retention", 0, "record age bound, e.g. 168h; 0 unlimited")
	fs.Func("fsync", "durability: never, interval or always (default interval)", func(s string) (err error) {
		fsync, err = storage.ParseFsync(s)
		return err
	})
	fs.DurationVar(&cfg.Storage.FsyncInterval, "fsync-interval", storage.DefaultFsyncInterval, "flush period for --fsync=interval")
	maxReq := fs.Int("max-request-bytes", refbroker.DefaultMaxRequestBytes, "largest accepted request in bytes")
	fs.Int64Var(&cfg.MaxInFlightBytes, "max-inflight-bytes", 0, "request bytes one connection may have read and not yet handled (default: --max-request-bytes)")
	maxFetch := fs.Int("max-fetch-bytes", refbroker.DefaultMaxFetchBytes, "largest Fetch response in record bytes, whatever the client asks (Kafka fetch.max.bytes)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", refbroker.DefaultMaxConnections, "open client connections; more are closed at once")
	fs.IntVar(&cfg.MaxCreateTopicsPerRequest, "max-create-topics-per-request", refbroker.DefaultMaxCreateTopicsPerRequest, "topics one CreateTopics or auto-creating Metadata request may create; the rest are refused")
	maxCreateParts := fs.Int("max-create-partitions-per-request", refbroker.DefaultMaxCreatePartitionsPerRequest, "partitions one CreateTopics, CreatePartitions or auto-creating Metadata request may create; the rest are refused")
	fs.IntVar(&cfg.PartitionCreationsPerMinute, "partition-creations-per-minute", refbroker.DefaultPartitionCreationsPerMinute, "partitions all clients together may create per minute (Kafka's controller mutation quota, KIP-599); -1 no limit")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", refbroker.DefaultIdleTimeout, "close a connection that sends no request, or leaves a response unread, for this long")
	fs.DurationVar(&cfg.RequestReadTimeout, "request-read-timeout", refbroker.DefaultRequestReadTimeout, "close a connection that takes longer than this to send one request")
	fs.DurationVar(&cfg.RetentionCheckInterval, "retention-check-interval", refbroker.DefaultRetentionCheckInterval, "how often retention is enforced")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", refbroker.DefaultShutdownTimeout, "on SIGTERM, how long running requests get before the broker exits anyway (data is then recovered at the next start)")
	fs.BoolVar(&cfg.RebuildMetadata, "rebuild-metadata", false, "rebuild the topic metadata file from the topic directories (when it and its backup are lost or damaged)")
	fs.StringVar(&cfg.Security.Protocol, "security-protocol", refbroker.ProtocolPlaintext, "listener security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
	fs.StringVar(&cfg.Security.TLSCertFile, "tls-cert", "", "PEM server certificate (chain), for SSL and SASL_SSL")
	fs.StringVar(&cfg.Security.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.Security.TLSClientCAFile, "tls-client-ca", "", "PEM CA file: require client certificates signed by it (principal User:<subject DN>)")
	fs.StringVar(&cfg.Security.UsersFile, "sasl-users", "", "SASL users file (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), for SASL_PLAINTEXT and SASL_SSL")
	fs.StringVar(&cfg.Security.ACLFile, "acl-file", "", "ACL file; when set, principals may do only what it allows")
	nodeID := fs.Int("node-id", 0, "node ID in Metadata")
	fs.StringVar(&cfg.ClusterID, "cluster-id", "", "cluster ID (default: generated once and persisted)")
	fs.StringVar(&cfg.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the whole run to this file (for performance work)")
	fs.Func("log-level", "debug, info, warn or error (default info)", func(s string) error {
		return logLevel.UnmarshalText([]byte(s))
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (all settings are flags)", fs.Arg(0))
	}
	checks := []struct {
		flag string
		bad  bool
		want string
	}{
		{"--data-dir", cfg.DataDir == "", "a directory"},
		{"--partitions", *partitions < 1 || *partitions > refbroker.DefaultMaxPartitionsPerTopic, fmt.Sprintf("1..%d", refbroker.DefaultMaxPartitionsPerTopic)},
		{"--segment-bytes", cfg.Storage.SegmentBytes < storage.MinSegmentBytes || cfg.Storage.SegmentBytes > storage.MaxSegmentBytes, fmt.Sprintf("%d..%d", storage.MinSegmentBytes, storage.MaxSegmentBytes)},
		{"--max-message-bytes", cfg.Storage.MaxMessageBytes < storage.MinSegmentBytes || cfg.Storage.MaxMessageBytes > storage.MaxSegmentBytes, fmt.Sprintf("%d..%d", storage.MinSegmentBytes, storage.MaxSegmentBytes)},
		{"--retention-bytes", cfg.Storage.RetentionBytes < -1, "-1 (unlimited) or more"},
		{"--retention", cfg.Storage.Retention < 0, "0 (unlimited) or a positive duration"},
		{"--fsync-interval", cfg.Storage.FsyncInterval <= 0, "a positive duration"},
		{"--shutdown-timeout", cfg.ShutdownTimeout <= 0, "a positive duration"},
		{"--max-connections", cfg.MaxConnections < 1, "1 or more"},
		{"--max-create-topics-per-request", cfg.MaxCreateTopicsPerRequest < 1, "1 or more"},
		{"--max-create-partitions-per-request", *maxCreateParts < *partitions || *maxCreateParts > math.MaxInt32, fmt.Sprintf("--partitions (%d) or more", *partitions)},
		{"--partition-creations-per-minute", cfg.PartitionCreationsPerMinute < 1 && cfg.PartitionCreationsPerMinute != -1, "-1 (no limit) or 1 or more"},
		{"--max-inflight-bytes", cfg.MaxInFlightBytes != 0 && cfg.MaxInFlightBytes < 1024, "0 (the request limit) or 1024 or more"},
		{"--max-fetch-bytes", *maxFetch < 1024 || *maxFetch > math.MaxInt32, fmt.Sprintf("1024..%d", math.MaxInt32)},
		{"--idle-timeout", cfg.IdleTimeout <= 0, "a positive duration"},
		{"--request-read-timeout", cfg.RequestReadTimeout <= 0, "a positive duration"},
		{"--retention-check-interval", cfg.RetentionCheckInterval <= 0, "a positive duration"},
		{"--max-request-bytes", *maxReq < 1024 || *maxReq > math.MaxInt32, fmt.Sprintf("1024..%d", math.MaxInt32)},
		{"--node-id", *nodeID < 0 || *nodeID > math.MaxInt32, "0 or more"},
		{"--listen", !validHostPort(cfg.Listen, true), "host:port, e.g. 127.0.0.1:9092 or :0"},
		{"--advertise", cfg.Advertise != "" && !validHostPort(cfg.Advertise, false), "host:port with a host and a port in 1..65535"},
	}
	for _, c := range checks {
		if c.bad {
			return cfg, fmt.Errorf("invalid value for %s: want %s", c.flag, c.want)
		}
	}
	cfg.DefaultPartitions = int32(*partitions)
	cfg.AutoCreateTopics = refbroker.BoolPtr(autoTopic)
	cfg.Storage.Fsync = fsync
	cfg.MaxRequestBytes = int32(*maxReq)
	cfg.MaxFetchBytes = int32(*maxFetch)
	cfg.MaxCreatePartitionsPerRequest = int32(*maxCreateParts)
	cfg.NodeID = int32(*nodeID)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	if err := cfg.Default().Validate(); err != nil {
		return cfg, fmt.Errorf("invalid flags: %w", err)
	}
	return cfg, nil
}

// validHostPort reports whether addr is host:port; for an advertised
// address (listen false) the host must be set and the port non-zero,
// because clients dial exactly that.
func validHostPort(addr string, listen bool) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return false
	}
	return listen || (host != "" && n > 0)
}

// scramCommand is the one subcommand: it prints a SCRAM users-file line.
const scramCommand = "scram-credential"

// scramCredential runs "refbroker scram-credential --mechanism M --user U
// [--iterations N]": it reads the password from the first line of stdin
// and prints the users-file line with the salted credential
// (refbroker.ScramCredential), so that the file need not hold the
// password. It returns the exit code: 0, or 2 for bad flags or input.
func scramCredential(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refbroker "+scramCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	mech := fs.String("mechanism", refbroker.MechanismScramSHA256, "SCRAM-SHA-256 or SCRAM-SHA-512")
	user := fs.String("user", "", "user name (required)")
	iters := fs.Int("iterations", 4096, "PBKDF2 iterations, 4096..16384")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "refbroker %s: %s\n", scramCommand, fmt.Sprintf(format, a...))
		return 2
	}
	if *user == "" || strings.ContainsAny(*user, " \t") || fs.NArg() > 0 {
		return fail("--user is required, without spaces; the password is read from stdin")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fail("read the password from stdin: %v", err)
	}
	pass := strings.TrimRight(line, "\r\n")
	if pass == "" {
		return fail("no password on stdin")
	}
	cred, err := refbroker.ScramCredential(*mech, *user, pass, *iters)
	if err != nil {
		return fail("%v (flags --mechanism, --iterations)", err)
	}
	fmt.Fprintf(stdout, "%s %s %s\n", *user, *mech, cred)
	return 0
}
