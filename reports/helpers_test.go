package reports

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// newReport writes a report of the given input folders into a temporary
// folder and returns its summary.
func newReport(t *testing.T, opts Options) Summary {
	t.Helper()
	if opts.Out == "" {
		opts.Out = filepath.Join(t.TempDir(), "report")
	}
	if opts.ToolVersion == "" {
		opts.ToolVersion = "brokerbench test"
	}
	sum, err := Write(context.Background(), opts)
	if err != nil {
		t.Fatalf("Write(%v): %v", opts.In, err)
	}
	return sum
}

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./reports -update and review the diff\n--- got ---\n%s", name, got)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodePNG checks that path is a valid PNG and returns it.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a valid PNG: %v", path, err)
	}
	return img
}

var pageObj = regexp.MustCompile(`/Type /Page\s`)
var pageCount = regexp.MustCompile(`/Count (\d+)`)

// pdfPages checks the PDF's header and trailer and returns its page count
// as declared (/Count) and as page objects, which must agree.
func pdfPages(t *testing.T, path string) int {
	t.Helper()
	b := readFile(t, path)
	if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.Contains(b[max(0, len(b)-1024):], []byte("%%EOF")) {
		t.Fatalf("%s lacks a PDF header or trailer", path)
	}
	m := pageCount.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no page tree /Count", path)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if objs := len(pageObj.FindAll(b, -1)); objs != n {
		t.Fatalf("%s declares %d pages but holds %d page objects", path, n, objs)
	}
	return n
}

// nonWhite counts pixels that are not (near) white: a blank render has
// none.
func nonWhite(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				n++
			}
		}
	}
	return n
}
