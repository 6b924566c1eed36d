package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// librdkafka through two of its front ends from Debian: kcat (the CLI,
// package kcat) and confluent-kafka-python (package
// python3-confluent-kafka, for the system /usr/bin/python3).
func init() {
	register(&client{
		name:       "kcat",
		need:       func(t *testing.T) { needTool(t, lookPath("kcat"), "kcat", "kcat") },
		idempotent: true,
		produce:    kcatProduce,
		consume:    kcatConsume,
		reset:      kcatReset,
		resume:     kcatResume,
		notes: map[string]string{
			"produce":   "one kcat -P per record (kcat sets the same -H headers on all its records)",
			"consume":   "kcat -C -o beginning -e: exits at librdkafka's end-of-partition event",
			"reset":     "kcat -G with auto.offset.reset=earliest after a committed offset beyond the end",
			"resume":    "kcat -G -c N (auto-commit on close), then kcat -G -e",
			"rebalance": "not run: kcat cannot report its assignment; covered by confluent-kafka-python on the same librdkafka",
			"admin":     "not run: kcat has only -L (metadata); librdkafka's admin API is covered by confluent-kafka-python",
		},
	})
	register(&client{
		name: "confluent-kafka-python",
		need: func(t *testing.T) {
			needTool(t, pythonHasConfluent(), "python3 module confluent_kafka", "python3-confluent-kafka")
		},
		idempotent: true,
		produce:    pyProduce,
		consume:    pyConsume,
		reset:      pyReset,
		resume:     pyResume,
		rebalance:  pyRebalance,
		admin:      pyAdmin,
		notes: map[string]string{
			"consume": "enable.partition.eof: librdkafka's end-of-partition event",
			"reset":   "auto.offset.reset=earliest after a committed offset beyond the end",
			"admin":   "describe group through AdminClient.list_groups(group), which sends DescribeGroups",
		},
	})
}

func lookPath(tool string) bool {
	_, err := exec.LookPath(tool)
	return err == nil
}

// systemPython is the interpreter Debian's python3-confluent-kafka is
// installed for; a python3 earlier on PATH (pyenv, venv) lacks it.
const systemPython = "/usr/bin/python3"

func pythonHasConfluent() bool {
	return exec.Command(systemPython, "-c", "import confluent_kafka").Run() == nil
}

// run runs a tool with stdin and returns its stdout, failing with its
// stderr. ctx ends it: a consumer that never sees the end of its
// partition (as librdkafka did when refbroker sent null records) fails
// here rather than hanging the test.
func run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (did not exit within its deadline)", ctx.Err())
		}
		return nil, fmt.Errorf("%s %s: %w\nstderr: %s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// kcatFormat prints partition, offset, headers and value per record.
const kcatFormat = `%p\t%o\t%h\t%s\n`

func kcatProduce(e *env, topic, codec string, recs []rec) error {
	for _, r := range recs {
		args := []string{"-b", e.addr, "-P", "-t", topic, "-p", "0", "-z", codec,
			"-X", "acks=all", "-X", "enable.idempotence=true"}
		for _, k := range sortedKeys(r.Headers) {
			args = append(args, "-H", k+"="+r.Headers[k])
		}
		if _, err := run(e.ctx, []byte(r.Value+"\n"), "kcat", args...); err != nil {
			return err
		}
	}
	return nil
}

// kcatRecords parses kcatFormat output.
func kcatRecords(out []byte) ([]rec, error) {
	var recs []rec
	for line := range strings.Lines(string(out)) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 4)
		if len(f) != 4 {
			return recs, fmt.Errorf("kcat printed %q", line)
		}
		p, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return recs, fmt.Errorf("kcat printed %q", line)
		}
		r := rec{Partition: int32(p), Offset: o, Value: f[3], Headers: map[string]string{}}
		for kv := range strings.SplitSeq(f[2], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r.Headers[k] = v
			}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func kcatConsume(e *env, topic string) ([]rec, error) {
	out, err := run(e.ctx, nil, "kcat", "-b", e.addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", kcatFormat)
	if err != nil {
		return nil, err
	}
	return kcatRecords(out)
}

// kcatGroup runs a kcat balanced consumer of group with extra arguments.
func kcatGroup(e *env, topic, group, clientID string, extra ...string) ([]rec, error) {
	args := append([]string{"-b", e.addr, "-G", group, "-f", kcatFormat, "-X", "auto.offset.reset=earliest",
		"-X", "client.id=" + clientID}, extra...)
	out, err := run(e.ctx, nil, "kcat", append(args, topic)...)
	if err != nil {
		return nil, err
	}
	return kcatRecords(out)
}

func kcatReset(e *env, topic, group string) ([]rec, error) {
	return kcatGroup(e, topic, group, "compat", "-e")
}

func kcatResume(e *env, topic, group string, n int) (first, rest []rec, err error) {
	if first, err = kcatGroup(e, topic, group, "compat-1", "-c", strconv.Itoa(n)); err != nil {
		return first, nil, fmt.Errorf("first member: %w", err)
	}
	rest, err = kcatGroup(e, topic, group, "compat-2", "-e")
	return first, rest, err
}

// py runs one scenario of testdata/confluent_compat.py.
func py(e *env, scenario string, args map[string]any, out any) error {
	args["bootstrap"] = e.addr
	args["deadline"] = 45 // seconds, inside run's own limit
	in, err := json.Marshal(args)
	if err != nil {
		return err
	}
	stdout, err := run(e.ctx, in, systemPython, "testdata/confluent_compat.py", scenario)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		return fmt.Errorf("confluent_compat.py %s printed %q: %w", scenario, stdout, err)
	}
	return nil
}

func pyProduce(e *env, topic, codec string, recs []rec) error {
	return py(e, "produce", map[string]any{"topic": topic, "codec": codec, "records": recs}, &struct{}{})
}

func pyConsume(e *env, topic string) ([]rec, error) {
	var out struct{ Records []rec }
	err := py(e, "consume", map[string]any{"topic": topic}, &out)
	return out.Records, err
}

func pyReset(e *env, topic, group string) ([]rec, error) {
	var out struct{ Records []rec }
	err := py(e, "reset", map[string]any{"topic": topic, "group": group}, &out)
	return out.Records, err
}

func pyResume(e *env, topic, group string, n int) (first, rest []rec, err error) {
	var out struct{ First, Rest []rec }
	err = py(e, "resume", map[string]any{"topic": topic, "group": group, "n": n}, &out)
	return out.First, out.Rest, err
}

func pyRebalance(e *env, topic, group string) (a, b []int32, got []rec, err error) {
	var out struct {
		A, B    []int32
		Records []rec
	}
	err = py(e, "rebalance", map[string]any{"topic": topic, "group": group, "member_a": memberA, "member_b": memberB,
		"partitions": rebalancePartitions, "per_partition": rebalanceRecords}, &out)
	return out.A, out.B, out.Records, err
}

func pyAdmin(e *env, adminTopic, group, tsTopic string) (res adminResult, err error) {
	err = py(e, "admin", map[string]any{"admin_topic": adminTopic, "group": group, "ts_topic": tsTopic,
		"timestamp": adminTimestamp}, &res)
	return res, err
}
