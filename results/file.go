package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileName is the name a result is written under: workload and driver,
// with characters unsafe in file names replaced.
func FileName(workload, driver string) string {
	return sanitize(workload) + "." + sanitize(driver) + ".json"
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '=':
			b.WriteByte('-')
		case r == ']':
			// dropped: "x[a=1]" becomes "x_a-1"
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Write stores r in dir (created if missing) under [Repeat.FileName] and
// returns the file path. The file is written to a temporary name and
// renamed, so a reader never sees a half-written result.
func Write(dir string, r *Result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create results folder %s: %w", dir, err)
	}
	r.SchemaVersion = SchemaVersion
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode result %s/%s: %w", r.Workload, r.Driver, err)
	}
	path := filepath.Join(dir, r.Repeat.FileName(r.Workload, r.Driver))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write result %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("rename result into place %s: %w", path, err)
	}
	return path, nil
}

// ErrNotResult is wrapped when a JSON file is not a result file.
var ErrNotResult = errors.New("not a result file")

// Read loads one result file. Files written by the OpenMessaging Benchmark
// load too: their extension fields are simply empty.
func Read(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	// Probe for the two fields every result has before decoding the rest,
	// so that other JSON in a results folder (verdicts, reports) is told
	// apart from a damaged result.
	var probe struct{ Workload, Driver string }
	if err := json.Unmarshal(data, &probe); err != nil || probe.Workload == "" || probe.Driver == "" {
		return nil, fmt.Errorf("%s: %w (no workload or driver field)", path, ErrNotResult)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parse result %s: %w", path, err)
	}
	if r.Status == "" {
		// OpenMessaging Benchmark files have no status: OMB writes a
		// result only for a run that completed.
		r.Status = StatusOK
	}
	if r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%s: result schema version %d is newer than this brokerbench understands (%d): upgrade brokerbench", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// ReadDir loads every result file in dir, sorted by workload, driver and
// repetition.
// JSON files that are not results are skipped and reported in the returned
// skipped list, not silently ignored.
func ReadDir(dir string) (rs []*Result, skipped []string, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("list results in %s: %w", dir, err)
	}
	for _, p := range paths {
		r, err := Read(p)
		if errors.Is(err, ErrNotResult) {
			skipped = append(skipped, p)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Workload != rs[j].Workload {
			return rs[i].Workload < rs[j].Workload
		}
		if rs[i].Driver != rs[j].Driver {
			return rs[i].Driver < rs[j].Driver
		}
		a, _ := rs[i].Repetition()
		b, _ := rs[j].Repetition()
		return a < b
	})
	return rs, skipped, nil
}
