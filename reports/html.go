package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"path/filepath"
	"strings"
)

// htmlSection is one workload in index.html.
type htmlSection struct {
	Name   string
	Anchor string
	Table  *table
	Charts []*Chart
	Links  []htmlLink
}

type htmlLink struct{ Label, Href string }

var htmlTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>brokerbench report</title>
<style>
body { font-family: sans-serif; max-width: 1120px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
img { width: 100%; max-width: 1063px; margin: 0.5em 0; border: 1px solid #eee; }
.note { font-size: 0.85em; color: #555; margin: 0.1em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
</style>
</head>
<body>
<h1>brokerbench report</h1>
<p>Date of the results: {{.Date}}<br>Tool: {{.Tool}}<br>Result sets: {{.Sets}}</p>
<p>Downloads: <a href="report.pdf">report.pdf</a> (all workloads), <a href="summary.md">summary.md</a></p>
<h2>Systems and versions</h2>
<ul>{{range .Systems}}<li>{{.}}</li>{{end}}</ul>
<h2>Host</h2>
<ul>{{range .Hosts}}<li>{{.}}</li>{{end}}</ul>
<h2>Contents</h2>
<ul>{{range .Sections}}<li><a href="#{{.Anchor}}">{{.Name}}</a></li>{{end}}</ul>
{{- if .Ratios}}
<h2>Comparison</h2>
{{range .Ratios}}{{template "table" .}}{{end}}
{{- end}}
{{- if .Plan}}
<h2>Capacity</h2>
{{range .Plan}}{{template "table" .}}{{end}}
{{- if .PlanText}}<pre>{{.PlanText}}</pre>{{end}}
{{- end}}
{{range .Sections}}
<h2 id="{{.Anchor}}">{{.Name}}</h2>
{{if .Table}}{{template "table" .Table}}{{end}}
{{- range .Links}}<p class="note">Porcupine visualization (nonlinearizable partition) for {{.Label}}: <a href="{{.Href}}">{{.Href}}</a></p>{{end}}
{{range .Charts}}<img src="{{.File}}" alt="{{.Title}}" title="{{.Title}}">
{{end}}
{{- end}}
</body>
</html>
{{define "table"}}<h3>{{.Title}}</h3>
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}{{end}}`))

// html renders index.html: the title facts, comparison and plan tables,
// then per workload its summary table and charts (the PNG files).
func (rep *report) html() ([]byte, error) {
	data := struct {
		Date, Tool, Sets string
		Systems, Hosts   []string
		Ratios, Plan     []table
		PlanText         string
		Sections         []htmlSection
	}{
		Date:    rep.reportDate().Format("2006-01-02 15:04 UTC"),
		Tool:    rep.toolVersion(),
		Sets:    strings.Join(setLabels(rep.opts.In), ", "),
		Systems: rep.systems(),
		Hosts:   rep.hosts(),
		Ratios:  rep.ratios,
		Plan:    rep.plan,
	}
	if rep.planText != nil {
		var b bytes.Buffer
		if err := rep.planText.WriteText(&b); err != nil {
			return nil, err
		}
		data.PlanText = b.String()
	}
	ti := 0
	for _, sec := range rep.secs {
		hs := htmlSection{Name: sec.Name, Anchor: fileSafe(sec.Name), Charts: sec.Charts}
		if sec.hasTable() {
			hs.Table = &rep.tables[ti]
			ti++
		}
		for _, r := range sec.Runs {
			for _, v := range visualizations(r) {
				href := relLink(rep.opts.Out, v)
				hs.Links = append(hs.Links, htmlLink{Label: r.Label, Href: href})
			}
		}
		data.Sections = append(data.Sections, hs)
	}
	var buf bytes.Buffer
	if err := htmlTmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("index.html template: %w", err)
	}
	return buf.Bytes(), nil
}

// relLink is target as a link from the folder from, relative when both
// resolve to absolute paths, else absolute.
func relLink(from, target string) string {
	absFrom, err1 := filepath.Abs(from)
	absTarget, err2 := filepath.Abs(target)
	if err1 != nil || err2 != nil {
		return filepath.ToSlash(target)
	}
	if rel, err := filepath.Rel(absFrom, absTarget); err == nil {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(absTarget)
}
