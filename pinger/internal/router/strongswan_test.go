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
	d, err := NewStrongSwan(StrongSwanConfig{ConfDir: dir, Runner: f, Peers: map[site.Peer]StrongSwanPeer{
		{Site: "bj"}: {Connection: "to-bj", Children: []string{"lan", "dmz"}},
		{Site: "sh"}: {Connection: "to-sh", Family: 6},
		{Site: "gz"}: {Connection: "to-gz"},
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
			if _, err := NewStrongSwan(StrongSwanConfig{Peers: map[site.Peer]StrongSwanPeer{{Site: "bj"}: tc.peer}}); err == nil {
				t.Fatal("got nil error")
			}
		})
	}
}

// TestStrongSwanSkipsWhatIsUp: applying again an address the connection already has, with
// its tunnel up, touches nothing (a cycle after a lost state file re-applies everything,
// issue 11, point 13); any doubt applies the change.
func TestStrongSwanSkipsWhatIsUp(t *testing.T) {
	c := Change{Peer: "bj", Family: 4, New: mustAddr("198.51.100.10")}
	tests := []struct {
		name      string
		override  string // written before Apply; empty: the generated one
		sa        string // IKE_SA to-bj is up to this address; empty: none
		children  []string
		wantCalls []string
	}{
		{name: "tunnel up at the address", sa: "198.51.100.10", children: []string{"lan", "dmz"},
			wantCalls: []string{"swanctl --list-sas --ike to-bj"}},
		{name: "tunnel down", children: nil,
			wantCalls: []string{"swanctl --list-sas --ike to-bj", "swanctl --load-conns", "swanctl --terminate --ike to-bj --force", "swanctl --initiate --ike to-bj --child lan --timeout 30", "swanctl --initiate --ike to-bj --child dmz --timeout 30"}},
		{name: "tunnel up elsewhere", sa: "198.51.100.9", children: []string{"lan", "dmz"},
			wantCalls: []string{"swanctl --list-sas --ike to-bj", "swanctl --load-conns", "swanctl --terminate --ike to-bj --force", "swanctl --initiate --ike to-bj --child lan --timeout 30", "swanctl --initiate --ike to-bj --child dmz --timeout 30"}},
		{name: "a child missing", sa: "198.51.100.10", children: []string{"lan"},
			wantCalls: []string{"swanctl --list-sas --ike to-bj", "swanctl --load-conns", "swanctl --terminate --ike to-bj --force", "swanctl --initiate --ike to-bj --child lan --timeout 30", "swanctl --initiate --ike to-bj --child dmz --timeout 30"}},
		{name: "override file differs", override: "connections {\n\tto-bj {\n\t\tremote_addrs = 198.51.100.9\n\t}\n}\n", sa: "198.51.100.10", children: []string{"lan", "dmz"},
			wantCalls: []string{"swanctl --load-conns", "swanctl --terminate --ike to-bj --force", "swanctl --initiate --ike to-bj --child lan --timeout 30", "swanctl --initiate --ike to-bj --child dmz --timeout 30"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newSwan(t)
			conf := tc.override
			if conf == "" {
				conf = string(StrongSwanOverride("to-bj", c))
			}
			if err := os.WriteFile(d.ConfPath("to-bj"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			delete(f.sas, "to-bj")
			delete(f.children, "to-bj")
			if tc.sa != "" {
				f.sas["to-bj"], f.children["to-bj"] = tc.sa, tc.children
			}
			if err := d.Apply(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(f.calls, "; "), strings.Join(tc.wantCalls, "; "); got != want {
				t.Errorf("got calls %q, want %q", got, want)
			}
			if got := f.sas["to-bj"]; got != "198.51.100.10" {
				t.Errorf("IKE_SA up to %q, want 198.51.100.10", got)
			}
		})
	}
}

func TestSAUpTo(t *testing.T) {
	const up = `to-bj: #2, ESTABLISHED, IKEv2, 5c3e5e9b0fa2b1c6_i* 2a0a0f1d5d0e9d0b_r
  local  '198.51.100.10' @ 198.51.100.10[4500]
  remote '198.51.100.20' @ 198.51.100.20[4500]
  AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
  established 10s ago, rekeying in 13950s
  lan: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_CBC-128/HMAC_SHA2_256_128
    installed 10s ago, rekeying in 3300s, expires in 3950s
    local  10.1.0.0/24
    remote 10.2.0.0/24
`
	tests := []struct {
		name     string
		out      string
		conn, ip string
		children []string
		want     bool
	}{
		{name: "established with child", out: up, conn: "to-bj", ip: "198.51.100.20", children: []string{"lan"}, want: true},
		{name: "IKE only", out: up, conn: "to-bj", ip: "198.51.100.20", want: true},
		{name: "other address", out: up, conn: "to-bj", ip: "198.51.100.21"},
		{name: "child not up", out: up, conn: "to-bj", ip: "198.51.100.20", children: []string{"lan", "dmz"}},
		{name: "other connection", out: up, conn: "to-sh", ip: "198.51.100.20"},
		{name: "connecting", out: strings.Replace(up, "ESTABLISHED", "CONNECTING", 1), conn: "to-bj", ip: "198.51.100.20"},
		{name: "ipv6", out: "to-sh: #4, ESTABLISHED, IKEv2, a_i* b_r\n  local  'x' @ 2001:db8::1[4500]\n  remote 'y' @ 2001:db8::9[4500]\n", conn: "to-sh", ip: "2001:db8::9", want: true},
		{name: "empty", out: "", conn: "to-bj", ip: "198.51.100.20"},
		{name: "garbage", out: "remote @ [\n  remote @ x[\n", conn: "to-bj", ip: "198.51.100.20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := saUpTo([]byte(tc.out), tc.conn, mustAddr(tc.ip), tc.children); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
