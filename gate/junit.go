package gate

import (
	"encoding/xml"
	"fmt"
	"io"
)

// JUnit XML, in the subset every CI system reads (Jenkins, GitLab, GitHub
// Actions reporters): one <testsuite> per workload, one <testcase> per
// (system, check), with classname "<workload>.<system>".
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
}

// WriteJUnit writes checks as JUnit XML. Unknown outcomes are failures of
// type "unknown", so a CI system never shows them green.
func WriteJUnit(w io.Writer, checks []Check) error {
	doc := junitSuites{Name: "brokerbench"}
	index := map[string]int{}
	for _, c := range checks {
		i, ok := index[c.Workload]
		if !ok {
			i = len(doc.Suites)
			index[c.Workload] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: c.Workload})
		}
		s := &doc.Suites[i]
		tc := junitCase{Name: c.Name, Classname: c.Workload + "." + c.System, Time: fmt.Sprintf("%.3f", c.Seconds), SystemOut: c.Message}
		switch c.Outcome {
		case Failed, Unknown:
			tc.Failure = &junitMessage{Message: c.Message, Type: string(c.Outcome)}
			s.Failures++
			doc.Failures++
		case Skipped:
			tc.Skipped = &junitMessage{Message: c.Message}
			s.Skipped++
			doc.Skipped++
		}
		s.Tests++
		doc.Tests++
		s.Cases = append(s.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
