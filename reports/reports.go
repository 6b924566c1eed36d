// Package reports draws charts and writes reports from result files: PNG
// charts per workload, one multi-page PDF (title page, summary tables,
// comparison and capacity-plan tables, then the charts), index.html and a
// summary.md for CI comments. It reads only result files (package
// results), so a report can be redrawn from results alone.
//
// The main entry points are [Write], which renders a report from one or
// more result folders (several folders, or several systems, are compared
// with ratio tables whose every ratio has its confidence interval and
// verdict, also written to comparison.json: [Comparison]), and
// [PlanFromDirs], which plans nodes, partitions and producers per system
// from capacity searches ([Plan], [PlanRequest]; the model is package
// capacity's). Capacity searches also get a capacity page: hockey sticks,
// USL fits and the plan.
//
// Charts are drawn with gonum.org/v1/plot. Time series are downsampled
// (LTTB) to at most 1000 points per line, since PNG rendering time grows
// with line complexity. All text is ASCII, because PDF text garbles other
// characters (gonum/plot#347).
package reports

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure [Write]. Build them with named fields.
type Options struct {
	// In lists result folders; at least one. Several folders are compared
	// side by side (systems, versions, or before vs after); the first is
	// the baseline of comparisons unless Baseline says otherwise.
	In []string
	// Baseline names what every ratio is relative to: a result set (the
	// base name of an In folder), a system, or a series label
	// ("refbroker [before]"). Default: the first In folder and, within a
	// set, the system it ran first.
	Baseline string
	// Out is the report folder, created if missing; default
	// "<In[0]>/report". Existing report files in it are overwritten.
	Out string
	// ToolVersion is printed on the title page ("brokerbench 0.1.0");
	// default: the tool named in the result files.
	ToolVersion string
	// Plan, when set, adds a capacity plan for this target with its
	// reasoning. Without it, a report with capacity searches shows the
	// answer for a few standard targets.
	Plan *PlanRequest
	_    struct{}
}

// Summary describes what [Write] produced. Paths are inside Out.
type Summary struct {
	// Out is the report folder.
	Out string
	// PDF, HTML and Markdown are the paths of report.pdf, index.html and
	// summary.md; Comparison is comparison.json, every ratio of the
	// report with its interval and verdict.
	PDF, HTML, Markdown, Comparison string
	// PNGs are the chart files in section order.
	PNGs []string
	// Pages is the number of pages of the PDF.
	Pages int
	// Results is the number of result files read; Sections the number of
	// workload (and sweep) sections.
	Results, Sections int
	// Skipped lists JSON files in the inputs that were not result files.
	Skipped []string
}

// report is everything the writers need, computed once.
type report struct {
	opts     Options
	runs     []*Run
	secs     []*Section
	pal      palette
	tables   []table // per-section summaries
	ratios   []table
	compared []Comparison
	plan     []table
	planText *Plan
}

// Write reads the result folders in opts.In and writes the report into
// opts.Out. It is safe to call concurrently for different Out folders.
// Errors name the file or folder involved; ErrNoResults is wrapped when an
// input folder holds no result.
func Write(ctx context.Context, opts Options) (Summary, error) {
	if len(opts.In) == 0 {
		return Summary{}, fmt.Errorf("%w: no input folder given", ErrNoResults)
	}
	if opts.Out == "" {
		opts.Out = filepath.Join(opts.In[0], "report")
	}
	if opts.Plan != nil {
		if err := opts.Plan.Validate(); err != nil {
			return Summary{}, err
		}
	}
	runs, skipped, err := load(ctx, opts.In)
	if err != nil {
		return Summary{}, err
	}
	rep, err := build(ctx, opts, runs)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Out: opts.Out, Results: len(runs), Sections: len(rep.secs), Skipped: skipped}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return sum, fmt.Errorf("create report folder %s: %w", opts.Out, err)
	}
	if sum.PNGs, err = rep.writePNGs(ctx); err != nil {
		return sum, err
	}
	sum.PDF = filepath.Join(opts.Out, "report.pdf")
	if sum.Pages, err = rep.writePDF(ctx, sum.PDF); err != nil {
		return sum, err
	}
	sum.HTML = filepath.Join(opts.Out, "index.html")
	if err := writeFile(sum.HTML, rep.html); err != nil {
		return sum, err
	}
	sum.Markdown = filepath.Join(opts.Out, "summary.md")
	if err := writeFile(sum.Markdown, rep.markdown); err != nil {
		return sum, err
	}
	sum.Comparison = filepath.Join(opts.Out, "comparison.json")
	if err := writeComparisons(sum.Comparison, rep.compared); err != nil {
		return sum, err
	}
	return sum, nil
}

// build groups runs into sections, draws every chart and computes the
// tables.
func build(ctx context.Context, opts Options, runs []*Run) (*report, error) {
	sortRuns(runs, opts.In)
	choice, err := resolveBaseline(opts.Baseline, runs)
	if err != nil {
		return nil, err
	}
	rep := &report{opts: opts, runs: runs, secs: append(sections(runs), capacitySections(runs)...), pal: newPalette(runs)}
	for _, sec := range rep.secs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		charts, err := sectionCharts(sec, rep.pal)
		if err != nil {
			return nil, fmt.Errorf("charts for %s: %w", sec.Name, err)
		}
		sec.Charts = charts
		if sec.hasTable() {
			rep.tables = append(rep.tables, sectionTable(sec))
		}
	}
	rep.compared, rep.ratios = comparisons(rep.secs, choice)
	if err := rep.buildPlan(); err != nil {
		return nil, err
	}
	return rep, nil
}

// buildPlan adds the capacity tables (searches, fits) and the plan when
// capacity-search results are present.
func (rep *report) buildPlan() error {
	for _, s := range capacitySystems(rep.runs) {
		rep.plan = append(rep.plan, s.tables()...)
	}
	if rep.opts.Plan != nil {
		p, err := makePlan(rep.runs, *rep.opts.Plan)
		if errors.Is(err, ErrNoCapacity) {
			return nil
		}
		if err != nil {
			return err
		}
		rep.planText = p
		rep.plan = append(rep.plan, p.planTable())
		return nil
	}
	t, err := standardPlanTable(rep.runs)
	if err != nil || t == nil {
		return err
	}
	rep.plan = append(rep.plan, *t)
	return nil
}

// sectionCharts draws a section's charts in report order.
func sectionCharts(sec *Section, pal palette) ([]*Chart, error) {
	if sec.sweep {
		return sweepCharts(sec, pal)
	}
	if sec.capacity != nil {
		return capacityCharts(sec, pal)
	}
	var out []*Chart
	add := func(c *Chart, err error) error {
		if c != nil {
			out = append(out, c)
		}
		return err
	}
	if len(okRuns(sec.Runs)) > 0 {
		for _, f := range []func() (*Chart, error){
			func() (*Chart, error) { return rateChart(sec, pal) },
			func() (*Chart, error) { return distChart(sec, pal, "publish") },
			func() (*Chart, error) { return distChart(sec, pal, "e2e") },
			func() (*Chart, error) { return hiccupChart(sec, pal) },
			func() (*Chart, error) { return latencyTimeChart(sec, pal, "publish") },
			func() (*Chart, error) { return latencyTimeChart(sec, pal, "e2e") },
			func() (*Chart, error) { return lagChart(sec, pal) },
		} {
			if err := add(f()); err != nil {
				return nil, err
			}
		}
		if hasHint(sec.Runs[0], "skew") {
			hk, err := hotKeyCharts(sec, pal)
			if err != nil {
				return nil, err
			}
			out = append(out, hk...)
		}
		if hasHint(sec.Runs[0], "rebalance", "pauses") {
			if err := add(pauseChart(sec, pal)); err != nil {
				return nil, err
			}
		}
	}
	if err := add(conformanceChart(sec, pal)); err != nil {
		return nil, err
	}
	markFirstRepetition(sec, out)
	rc, err := repeatCharts(sec, pal)
	return append(out, rc...), err
}

// writePNGs renders every chart; file names are "<section>.<chart>.png".
func (rep *report) writePNGs(ctx context.Context) ([]string, error) {
	var paths []string
	for _, sec := range rep.secs {
		for _, c := range sec.Charts {
			if err := ctx.Err(); err != nil {
				return paths, err
			}
			data, err := renderPNG(c)
			if err != nil {
				return paths, fmt.Errorf("%s: %w", sec.Name, err)
			}
			c.File = fileSafe(sec.Name) + "." + c.ID + ".png"
			path := filepath.Join(rep.opts.Out, c.File)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return paths, fmt.Errorf("write chart %s: %w", path, err)
			}
			paths = append(paths, path)
		}
	}
	return paths, nil
}

// writeFile writes what render returns.
func writeFile(path string, render func() ([]byte, error)) error {
	data, err := render()
	if err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// reportDate is the end of the latest run: a report of the same results is
// the same report whenever it is drawn.
func (rep *report) reportDate() time.Time {
	var t time.Time
	for _, r := range rep.runs {
		if r.Meta.Finished.After(t) {
			t = r.Meta.Finished
		}
	}
	return t.UTC()
}

// toolVersion is the version on the title page.
func (rep *report) toolVersion() string {
	if rep.opts.ToolVersion != "" {
		return rep.opts.ToolVersion
	}
	seen := map[string]bool{}
	var out string
	for _, r := range rep.runs {
		if t := r.Meta.Tool; t != "" && !seen[t] {
			seen[t] = true
			if out != "" {
				out += ", "
			}
			out += t
		}
	}
	return out
}

// systems lists "label: server, client, durability" once per series.
func (rep *report) systems() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rep.runs {
		if seen[r.Label] || r.Meta.System.Client == "" && r.Meta.System.Server == "" {
			continue
		}
		seen[r.Label] = true
		line := fmt.Sprintf("%s: server %s, client %s, durability %s", r.Label, r.Meta.System.Server, r.Meta.System.Client, durabilityOf(r))
		if d := r.Meta.Durability; d != nil && len(d.Evidence) > 0 {
			line += " (" + strings.Join(d.Evidence, "; ") + ")"
		}
		out = append(out, ascii(line))
		for _, l := range drivenLines(r) {
			out = append(out, ascii(l))
		}
	}
	return out
}

// hosts lists the load-generating machines.
func (rep *report) hosts() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rep.runs {
		h := r.Meta.Host
		if h.Hostname == "" {
			continue
		}
		s := ascii(fmt.Sprintf("%s: %s/%s, %d CPUs %s, %d MB RAM, %s", h.Hostname, h.OS, h.Arch, h.CPUs, h.CPUModel, h.MemoryMB, h.GoVersion))
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
