package state

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/site"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	st := New("hz")
	st.Self.Set(4, netip.MustParseAddr("203.0.113.7"))
	st.SetPeer(site.Peer{Site: "bj"}, 4, netip.MustParseAddr("198.51.100.9"))
	st.SetPeer(site.Peer{Site: "bj"}, 6, netip.MustParseAddr("2001:db8::9"))
	st.UpdatedAt = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode %v, want 0600", got)
	}
	got, err := Load(path, "hz")
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer(site.Peer{Site: "bj"}, 4) != st.Peer(site.Peer{Site: "bj"}, 4) || got.Peer(site.Peer{Site: "bj"}, 6) != st.Peer(site.Peer{Site: "bj"}, 6) || got.Self != st.Self || !got.UpdatedAt.Equal(st.UpdatedAt) {
		t.Errorf("got %+v, want %+v", got, st)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the state file (no temp files left)", len(entries))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name      string
		path      string
		wantErr   error
		wantPeers int
	}{
		{name: "missing file is empty state", path: filepath.Join(dir, "none.json")},
		{name: "other site is empty state", path: write("other.json", `{"version":1,"site":"bj","peers":{"hz":{"ipv4":"203.0.113.7"}}}`)},
		{name: "same site", path: write("same.json", `{"version":1,"site":"hz","peers":{"bj":{"ipv4":"198.51.100.9"}}}`), wantPeers: 1},
		{name: "garbage", path: write("bad.json", `{`), wantErr: ErrCorrupt},
		{name: "bad address", path: write("badip.json", `{"version":1,"site":"hz","peers":{"bj":{"ipv4":"nope"}}}`), wantErr: ErrCorrupt},
		{name: "bad peer name", path: write("badname.json", `{"version":1,"site":"hz","peers":{"B J":{"ipv4":"198.51.100.9"}}}`), wantErr: ErrCorrupt},
		{name: "future version", path: write("v2.json", `{"version":2,"site":"hz"}`), wantErr: ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Load(tc.path, "hz")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := len(st.Peers); got != tc.wantPeers {
				t.Errorf("got %d peers, want %d", got, tc.wantPeers)
			}
			if st.Site != "hz" {
				t.Errorf("got site %q, want hz", st.Site)
			}
		})
	}
}

// TestLinesFile reads a file written before lines (peer keys are site names) and writes
// the lines of the office and of its peers under their own keys.
func TestLinesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	old := `{"version":1,"site":"hz","self":{"ipv4":"203.0.113.7"},"peers":{"bj":{"ipv4":"198.51.100.9"}}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Load(path, "hz")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Peer(site.Peer{Site: "bj"}, 4).String(); got != "198.51.100.9" {
		t.Errorf("old file: bj = %s, want 198.51.100.9", got)
	}
	unicom := site.Peer{Site: "bj", Line: "unicom"}
	st.SetPeer(unicom, 4, netip.MustParseAddr("198.51.100.20"))
	st.SetSelf("unicom", 4, netip.MustParseAddr("203.0.113.8"))
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"bj/unicom": {`, `"self_lines": {`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("file lacks %s:\n%s", want, raw)
		}
	}
	got, err := Load(path, "hz")
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer(unicom, 4).String() != "198.51.100.20" || got.SelfAddr("unicom", 4).String() != "203.0.113.8" || got.SelfAddr("", 4).String() != "203.0.113.7" {
		t.Errorf("got %+v", got)
	}
}
