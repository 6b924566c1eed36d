package reports

import (
	"context"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expectedCharts lists the charts each kind of section must have.
func expectedCharts(sec *Section) []string {
	if sec.sweep {
		return []string{"sweep-total", "sweep-per-partition"}
	}
	ids := []string{"rate", "latency-dist-publish", "latency-dist-e2e", "latency-time-publish", "latency-time-e2e", "lag"}
	if hasHint(sec.Runs[0], "skew") {
		ids = append(ids, "partitions", "partition-lag")
	}
	if hasHint(sec.Runs[0], "rebalance", "pauses") {
		ids = append(ids, "pauses")
	}
	return append(ids, "conformance")
}

func TestWriteSingleSet(t *testing.T) {
	t.Parallel()
	sum := newReport(t, Options{In: []string{"testdata/ref"}})
	if sum.Results != 6 {
		t.Errorf("Results = %d, want the 6 result files of testdata/ref", sum.Results)
	}
	if len(sum.Skipped) != 1 || filepath.Base(sum.Skipped[0]) != "not-a-result.json" {
		t.Errorf("Skipped = %v, want not-a-result.json reported", sum.Skipped)
	}
	// Sections: hot-keys, rebalance-storm, smoke, three sweep points and
	// the sweep section after them.
	if sum.Sections != 7 {
		t.Errorf("Sections = %d, want 7", sum.Sections)
	}
	for _, p := range sum.PNGs {
		img := decodePNG(t, p)
		if w := img.Bounds().Dx(); w < 1000 {
			t.Errorf("%s is %d px wide; want at least 1000 to be readable at A4 width", p, w)
		}
		if nonWhite(img) == 0 {
			t.Errorf("%s is blank", p)
		}
	}
	if got := pdfPages(t, sum.PDF); got != sum.Pages {
		t.Errorf("PDF has %d pages, Summary.Pages = %d", got, sum.Pages)
	}
	// Title, one summary page, then charts two to a page: 9+8+7+7+7+7
	// charts in six sections and 2 in the sweep. No capacity page: the
	// set has no capacity search.
	want := 1 + 1 + 5 + 4 + 4*4 + 1
	if sum.Pages != want {
		t.Errorf("PDF pages = %d, want %d", sum.Pages, want)
	}
	golden(t, "ref.summary.md", readFile(t, sum.Markdown))
	golden(t, "ref.index.html", readFile(t, sum.HTML))
}

func TestSectionCharts(t *testing.T) {
	t.Parallel()
	runs, _, err := load(context.Background(), []string{"testdata/ref"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := build(context.Background(), Options{In: []string{"testdata/ref"}}, runs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sec := range rep.secs {
		names = append(names, sec.Name)
		var ids []string
		for _, c := range sec.Charts {
			ids = append(ids, c.ID)
			if !strings.Contains(c.Title, sec.Name) {
				t.Errorf("chart %s title %q does not name its workload", c.ID, c.Title)
			}
		}
		if want := expectedCharts(sec); !slices.Equal(ids, want) {
			t.Errorf("%s charts = %v, want %v", sec.Name, ids, want)
		}
	}
	wantOrder := []string{
		"hot-keys[keyDistributor=HOT_KEY-0.8]", "rebalance-storm[churn.membership=dynamic]", "smoke",
		"throughput-per-partition[partitionsPerTopic=1]", "throughput-per-partition[partitionsPerTopic=2]",
		"throughput-per-partition[partitionsPerTopic=4]", "throughput-per-partition (sweep)",
	}
	if !slices.Equal(names, wantOrder) {
		t.Errorf("sections = %q, want %q", names, wantOrder)
	}
}

func TestWriteComparison(t *testing.T) {
	t.Parallel()
	sum := newReport(t, Options{In: []string{"testdata/multi", "testdata/ref"}})
	md := string(readFile(t, sum.Markdown))
	if !slices.ContainsFunc(sum.Skipped, func(s string) bool { return strings.HasSuffix(s, "smoke.refbroker.verdict.json") }) {
		t.Errorf("Skipped = %q, want the verdict file next to a result skipped", sum.Skipped)
	}
	for _, want := range []string{
		"## Comparison",
		"| nats | refbroker [multi] |",            // multi ran refbroker first: its baseline
		"| refbroker [ref] | refbroker [multi] |", // the same system in the first set
		"| redis | refbroker [multi] |",
		"1 repetition: no confidence interval",
		"(n=1+1: too few)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if got := pdfPages(t, sum.PDF); got != sum.Pages {
		t.Errorf("PDF has %d pages, Summary.Pages = %d", got, sum.Pages)
	}
	golden(t, "compare.summary.md", []byte(md))
	golden(t, "compare.index.html", readFile(t, sum.HTML))
}

func TestWriteWithPlan(t *testing.T) {
	t.Parallel()
	tp, err := ParseThroughput("100MB/s")
	if err != nil {
		t.Fatal(err)
	}
	sum := newReport(t, Options{In: []string{"testdata/capacity"}, Plan: &PlanRequest{Target: tp, Consumers: 12, Headroom: 0.3}})
	html := string(readFile(t, sum.HTML))
	for _, want := range []string{"Capacity plan: target 100MB/s, headroom 30%, consumers 12", "not reachable with the measured setup", "Capacity searches on refbroker"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"no input", Options{}, ErrNoResults},
		{"empty folder", Options{In: []string{empty}}, ErrNoResults},
		{"bad headroom", Options{In: []string{"testdata/ref"}, Plan: &PlanRequest{Target: Throughput{Value: 1e6}, Headroom: 1.5}}, ErrBadPlan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Out = filepath.Join(t.TempDir(), "out")
			if _, err := Write(context.Background(), tt.opts); !errors.Is(err, tt.want) {
				t.Errorf("Write error = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Write(context.Background(), Options{In: []string{filepath.Join(empty, "missing")}}); err == nil {
		t.Error("Write on a missing folder succeeded")
	}
}

func TestWriteCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Write(ctx, Options{In: []string{"testdata/ref"}, Out: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a canceled context = %v, want context.Canceled", err)
	}
}

// TestPDFRenders converts PDF pages to images with pdftoppm (poppler) to
// check that a common PDF renderer reads the file: the title page, a
// table page and a chart page must render and must not be blank.
func TestPDFRenders(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftoppm not found; CI must install poppler-utils")
		}
		t.Skip("pdftoppm not found (install poppler-utils); PDF rendering not checked")
	}
	sum := newReport(t, Options{In: []string{"testdata/ref"}})
	dir := t.TempDir()
	for _, page := range []int{1, 2, sum.Pages} {
		prefix := filepath.Join(dir, "page")
		p := itoa(int64(page))
		out, err := exec.Command(tool, "-r", "40", "-png", "-singlefile", "-f", p, "-l", p, sum.PDF, prefix+p).CombinedOutput()
		if err != nil {
			t.Fatalf("pdftoppm page %d: %v\n%s", page, err, out)
		}
		if len(out) > 0 {
			t.Errorf("pdftoppm page %d printed warnings: %s", page, out)
		}
		f, err := os.Open(prefix + p + ".png")
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("page %d image: %v", page, err)
		}
		// A4 at 40 dpi is 331 x 468 px.
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 440 || b.Dy() < b.Dx() {
			t.Errorf("page %d renders as %v, want A4 portrait", page, b)
		}
		if nonWhite(img) < 50 {
			t.Errorf("page %d renders blank", page)
		}
	}
}
