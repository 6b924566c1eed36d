package checkers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// historyCase is what a testdata file name promises:
// <model>-<anomaly or "clean">[-<guarantee>][-<note>].<valid|invalid>.jsonl.
type historyCase struct {
	model     history.Model
	anomaly   string // catalog name, or "" for clean (no anomaly at all)
	guarantee history.Guarantee
	want      Validity
}

func parseCaseName(t *testing.T, file string) historyCase {
	t.Helper()
	base := strings.TrimSuffix(filepath.Base(file), ".jsonl")
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 {
		t.Fatalf("%s: name must end in .valid.jsonl or .invalid.jsonl", file)
	}
	var hc historyCase
	switch base[dot+1:] {
	case "valid":
		hc.want = Valid
	case "invalid":
		hc.want = Invalid
	default:
		t.Fatalf("%s: verdict %q: want valid or invalid", file, base[dot+1:])
	}
	modelName, rest, _ := strings.Cut(base[:dot], "-")
	m, err := history.ParseModel(modelName)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	hc.model = m
	if !strings.HasPrefix(rest, "clean") {
		for _, a := range catalog {
			if strings.HasPrefix(rest, a.Name) && len(a.Name) > len(hc.anomaly) {
				hc.anomaly = a.Name
			}
		}
		if hc.anomaly == "" {
			t.Fatalf("%s: %q names no catalog anomaly", file, rest)
		}
	}
	for _, g := range []history.Guarantee{history.AtLeastOnce, history.ExactlyOnce, history.AtMostOnce} {
		if strings.Contains(rest, g.String()) {
			hc.guarantee = g
		}
	}
	return hc
}

// TestHistories checks every history in testdata/ against the verdict and
// anomaly its file name carries. Add a case by adding a file.
func TestHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata histories: %v", err)
	}
	covered := map[string]bool{}
	for _, file := range files {
		hc := parseCaseName(t, file)
		covered[hc.anomaly] = true
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			v, err := CheckFile(context.Background(), file, Config{Guarantee: hc.guarantee, VisualizationDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if v.Valid != hc.want || v.Model != hc.model.String() {
				t.Errorf("verdict %s, model %s; want %s, %s", v.Valid, v.Model, hc.want, hc.model)
			}
			if hc.anomaly == "" && len(v.Anomalies) > 0 {
				t.Errorf("clean history has anomalies: %v", names(v))
			}
			a := v.Anomalies[hc.anomaly]
			if hc.anomaly != "" && (a == nil || a.Count == 0 || len(a.Examples) == 0 || a.Examples[0].Detail == "") {
				t.Errorf("anomaly %s not reported with an example; got %v", hc.anomaly, names(v))
			}
			if hc.anomaly == "nonlinearizable" {
				if len(v.Visualizations) != 1 {
					t.Fatalf("visualizations %v, want one", v.Visualizations)
				}
				if st, err := os.Stat(v.Visualizations[0]); err != nil || st.Size() == 0 {
					t.Errorf("visualization %s: %v", v.Visualizations[0], err)
				}
			}
			if t.Failed() {
				var b strings.Builder
				_ = v.WriteSummary(&b)
				t.Log(b.String())
			}
		})
	}
	for _, a := range catalog {
		if !covered[a.Name] {
			t.Errorf("catalog anomaly %s has no testdata history", a.Name)
		}
	}
}

func names(v *Verdict) []string {
	var out []string
	for n, a := range v.Anomalies {
		out = append(out, fmt.Sprintf("%s:%d", n, a.Count))
	}
	slices.Sort(out)
	return out
}
