package router

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ppter/ppter/shared/site"
)

// TestPeerLineMappings decodes a driver's peers with a line (bj/unicom) and checks that
// each mapping wants only the changes of its own line.
func TestPeerLineMappings(t *testing.T) {
	var cfg StrongSwanConfig
	if err := yaml.Unmarshal([]byte("peers:\n  bj: { connection: to-bj-telecom }\n  bj/unicom: { connection: to-bj-unicom }\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	m := peers[StrongSwanPeer](cfg.Peers)
	tests := []struct {
		c    Change
		want bool
	}{
		{Change{Peer: "bj", Family: 4}, true},
		{Change{Peer: "bj", Line: "unicom", Family: 4}, true},
		{Change{Peer: "bj", Line: "telecom", Family: 4}, false}, // mapped as bj: its default line
		{Change{Peer: "sh", Line: "unicom", Family: 4}, false},
		{Change{Peer: "bj", Line: "unicom", Family: 6}, false},
	}
	for _, tc := range tests {
		if got := m.Wants(tc.c); got != tc.want {
			t.Errorf("Wants(%s) = %v, want %v", tc.c, got, tc.want)
		}
	}
	if got := cfg.Peers[site.Peer{Site: "bj", Line: "unicom"}].Connection; got != "to-bj-unicom" {
		t.Errorf("bj/unicom maps to %q", got)
	}
	refs, err := m.check("strongswan")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(refs, func(a, b site.Peer) int { return strings.Compare(a.String(), b.String()) })
	if got := (mapped{{Site: "bj"}, {Site: "bj", Line: "unicom"}}); !slices.Equal(refs, got) {
		t.Errorf("mapped %v, want %v", refs, got)
	}
	if err := yaml.Unmarshal([]byte("peers:\n  bj/China: { connection: x }\n"), &cfg); err == nil || !strings.Contains(err.Error(), "China") {
		t.Errorf("bad line name: got %v", err)
	}
}
