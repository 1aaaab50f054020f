package router

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

func newSwan(t *testing.T) (*StrongSwan, *fakeSwanctl) {
	dir := t.TempDir()
	f := &fakeSwanctl{t: t, confDir: dir,
		base: map[string]swanConn{
			"to-bj": {remote: "%any", children: []string{"lan", "dmz"}},
			"to-sh": {remote: "%any"},
		},
		sas: map[string]string{"to-bj": "198.51.100.9"}, children: map[string][]string{"to-bj": {"lan", "dmz"}},
	}
	d, err := NewStrongSwan(StrongSwanConfig{ConfDir: dir, Runner: f, Peers: map[site.Name]StrongSwanPeer{
		"bj": {Connection: "to-bj", Children: []string{"lan", "dmz"}},
		"sh": {Connection: "to-sh", Family: 6},
		"gz": {Connection: "to-gz"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

func TestStrongSwanApply(t *testing.T) {
	tests := []struct {
		name     string
		change   Change
		conn     string
		golden   string
		children []string
	}{
		{name: "re-point established tunnel", change: Change{Peer: "bj", Family: 4, Old: mustAddr("198.51.100.9"), New: mustAddr("198.51.100.10")}, conn: "to-bj", golden: "strongswan/ppter-to-bj.conf", children: []string{"lan", "dmz"}},
		{name: "first apply ipv6, IKE only", change: change("sh", 6, "2001:db8::9"), conn: "to-sh", golden: "strongswan/ppter-to-sh.conf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newSwan(t)
			if !d.Wants(tc.change) {
				t.Fatal("Wants = false")
			}
			if err := d.Apply(context.Background(), tc.change); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(d.ConfPath(tc.conn))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b)
			if got := f.loaded[tc.conn].remote; got != tc.change.New.String() {
				t.Errorf("charon's remote_addrs = %q, want %s", got, tc.change.New)
			}
			if got := f.sas[tc.conn]; got != tc.change.New.String() {
				t.Errorf("IKE_SA up to %q, want %s", got, tc.change.New)
			}
			if got := strings.Join(f.children[tc.conn], ","); got != strings.Join(tc.children, ",") {
				t.Errorf("CHILD_SAs up %q, want %q", got, tc.children)
			}
		})
	}
}

func TestStrongSwanFailures(t *testing.T) {
	tests := []struct {
		name     string
		change   Change
		failInit bool
	}{
		{name: "connection unknown to swanctl.conf", change: change("gz", 4, "192.0.2.9")},
		{name: "initiate fails", change: change("bj", 4, "192.0.2.9"), failInit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newSwan(t)
			f.failInit = tc.failInit
			if err := d.Apply(context.Background(), tc.change); !errors.Is(err, ErrApply) {
				t.Fatalf("got %v, want ErrApply", err)
			}
		})
	}
}

func TestNewStrongSwanRefusesBadNames(t *testing.T) {
	tests := []struct {
		name string
		peer StrongSwanPeer
	}{
		{name: "path in connection", peer: StrongSwanPeer{Connection: "../x"}},
		{name: "option as connection", peer: StrongSwanPeer{Connection: "--help"}},
		{name: "brace in child", peer: StrongSwanPeer{Connection: "c", Children: []string{"a}"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewStrongSwan(StrongSwanConfig{Peers: map[site.Name]StrongSwanPeer{"bj": tc.peer}}); err == nil {
				t.Fatal("got nil error")
			}
		})
	}
}
