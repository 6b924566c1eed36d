package refbroker

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var update = flag.Bool("update", false, "rewrite the generated table in docs/refbroker.md")

const docsPath = "../docs/refbroker.md"

// TestDocsAPITable keeps docs/refbroker.md's API table identical to the
// registry, versions and unsupported features included (regKey refuses a
// registration that leaves them undeclared). Run with -update to rewrite.
func TestDocsAPITable(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	text := string(doc)
	begin, end := strings.Index(text, apiTableBegin), strings.Index(text, apiTableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the generated-table markers", docsPath)
	}
	want := apiTableBegin + "\n" + renderAPITable() + apiTableEnd
	got := text[begin : end+len(apiTableEnd)]
	if got == want {
		return
	}
	if !*update {
		t.Fatalf("%s API table is stale; run go test ./refbroker -run TestDocsAPITable -update", docsPath)
	}
	if err := os.WriteFile(docsPath, []byte(text[:begin]+want+text[end+len(apiTableEnd):]), 0o644); err != nil {
		t.Fatalf("update docs: %v", err)
	}
}

// TestHandlerFileHeaders checks that every NN_name.go file opens with a
// "// Name: vMIN-vMAX" line matching what it registers, and that every
// registered key has its file.
func TestHandlerFileHeaders(t *testing.T) {
	files, err := filepath.Glob("[0-9][0-9]_*.go")
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`(?m)^// (\w+): v(\d+)-(\d+)`)
	seen := map[int16]bool{}
	for _, f := range files {
		key, err := strconv.Atoi(f[:2])
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := header.FindStringSubmatch(string(src))
		if m == nil {
			t.Errorf("%s has no \"// Name: vMIN-vMAX\" header", f)
			continue
		}
		k, ok := apiKeys[int16(key)]
		if !ok {
			t.Errorf("%s does not register key %d", f, key)
			continue
		}
		seen[int16(key)] = true
		if got, want := fmt.Sprintf("%s v%s-%s", m[1], m[2], m[3]), fmt.Sprintf("%s v%d-%d", k.key.Name(), k.min, k.max); got != want {
			t.Errorf("%s header says %q, registry says %q", f, got, want)
		}
		for _, section := range []string{"// Behavior:", "// Version notes:"} {
			if !strings.Contains(string(src), section) {
				t.Errorf("%s lacks a %q section", f, section)
			}
		}
	}
	for key := range apiKeys {
		if !seen[key] {
			t.Errorf("key %d (%s) is registered outside an NN_name.go file", key, kmsg.NameForKey(key))
		}
	}
}
