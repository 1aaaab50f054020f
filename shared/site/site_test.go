package site

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "hz", true},
		{"digits and dash", "office-2", true},
		{"leading digit", "1st", true},
		{"max length", strings.Repeat("a", MaxLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"upper case", "HZ", false},
		{"leading dash", "-hz", false},
		{"trailing dash", "hz-", false},
		{"dot", "hz.bj", false},
		{"underscore", "hz_1", false},
		{"space", "h z", false},
		{"colon", "hz:1", false},
		{"non ascii", "杭州", false},
		{"brace", "{ppter}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in)
			if tt.ok {
				if err != nil || n.String() != tt.in {
					t.Fatalf("Parse(%q) = %q, %v; want ok", tt.in, n, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error = %v, want ErrInvalid", tt.in, err)
			}
		})
	}
}

// TestDecode checks that JSON and YAML refuse a bad name as a value and as a map key, with
// an error that names it.
func TestDecode(t *testing.T) {
	type doc struct {
		Site  Name         `json:"site" yaml:"site"`
		Peers map[Name]int `json:"peers" yaml:"peers"`
	}
	tests := []struct {
		name, in string
		decode   func([]byte, any) error
		want     string // in the error; "" when the document is valid
	}{
		{"json ok", `{"site":"hz","peers":{"bj":1}}`, json.Unmarshal, ""},
		{"json value", `{"site":"HZ"}`, json.Unmarshal, `invalid site name "HZ"`},
		{"json key", `{"site":"hz","peers":{"b j":1}}`, json.Unmarshal, `invalid site name "b j"`},
		{"yaml ok", "site: hz\npeers: {bj: 1}\n", yaml.Unmarshal, ""},
		{"yaml value", "site: -hz\n", yaml.Unmarshal, `invalid site name "-hz"`},
		{"yaml key", "site: hz\npeers: {BJ: 1}\n", yaml.Unmarshal, `invalid site name "BJ"`},
		{"yaml empty key", "site: hz\npeers: {'': 1}\n", yaml.Unmarshal, "invalid site name: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := tt.decode([]byte(tt.in), &d)
			if tt.want == "" {
				if err != nil || d.Site != "hz" || d.Peers["bj"] != 1 {
					t.Fatalf("got %+v, %v, want site hz and peer bj", d, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	if l, err := ParseLine("unicom"); err != nil || l != "unicom" {
		t.Fatalf("ParseLine(unicom) = %q, %v", l, err)
	}
	_, err := ParseLine("China-Unicom")
	if !errors.Is(err, ErrInvalidLine) || !strings.Contains(err.Error(), `invalid line name "China-Unicom"`) {
		t.Fatalf("ParseLine(China-Unicom) = %v, want ErrInvalidLine naming it", err)
	}
	var l Line
	if err := l.UnmarshalText([]byte("a_b")); !errors.Is(err, ErrInvalidLine) {
		t.Fatalf("UnmarshalText(a_b) = %v", err)
	}
}

func TestParsePeer(t *testing.T) {
	tests := []struct {
		in      string
		want    Peer
		wantErr error
	}{
		{"bj", Peer{Site: "bj"}, nil},
		{"bj/unicom", Peer{Site: "bj", Line: "unicom"}, nil},
		{"", Peer{}, ErrInvalid},
		{"BJ/unicom", Peer{}, ErrInvalid},
		{"bj/", Peer{}, ErrInvalidLine},
		{"bj/Unicom", Peer{}, ErrInvalidLine},
		{"bj/unicom/2", Peer{}, ErrInvalidLine},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePeer(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("ParsePeer(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil && got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// TestPeerMapKey checks that a YAML map keyed by Peer parses site/line keys and refuses a
// bad one with its name.
func TestPeerMapKey(t *testing.T) {
	var m map[Peer]int
	if err := yaml.Unmarshal([]byte("bj: 1\nbj/unicom: 2\n"), &m); err != nil {
		t.Fatal(err)
	}
	if got, want := m[Peer{Site: "bj", Line: "unicom"}], 2; got != want || m[Peer{Site: "bj"}] != 1 {
		t.Fatalf("got %v, want bj=1 and bj/unicom=%d", m, want)
	}
	err := yaml.Unmarshal([]byte("bj/Unicom: 1\n"), &m)
	if !errors.Is(err, ErrInvalidLine) || !strings.Contains(err.Error(), "Unicom") {
		t.Fatalf("got %v, want an error naming the bad line", err)
	}
	raw, err := json.Marshal(map[Peer]int{{Site: "bj", Line: "unicom"}: 2})
	if err != nil || string(raw) != `{"bj/unicom":2}` {
		t.Fatalf("json = %s, %v", raw, err)
	}
}
