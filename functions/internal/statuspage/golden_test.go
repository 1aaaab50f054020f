package statuspage

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden pages under testdata/")

// TestHTMLGolden pins the page byte for byte: the sample fleet, the empty fleet and one
// full of markup. Rewrite with -update after a deliberate change and read the diff.
func TestHTMLGolden(t *testing.T) {
	hostile := sampleFleet()
	hostile.Sites[0].Name = `<b onmouseover="x">bj</b>`
	hostile.Targets[1].Error = `<script>alert("pwned")</script> & more`
	hostile.Events[0].Detail = `"><img src=x onerror=alert(1)>`
	hostile.Targets[0].Name = `a'b"c`
	for name, f := range map[string]Fleet{"sample": sampleFleet(), "empty": {GeneratedAt: now}, "hostile": hostile} {
		t.Run(name, func(t *testing.T) {
			got, err := HTML(f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".html")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}
