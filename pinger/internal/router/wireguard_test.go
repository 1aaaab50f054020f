package router

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

const (
	keyBJ = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
	keySH = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
)

func newWg(t *testing.T, f *fakeWg) *WireGuard {
	d, err := NewWireGuard(WireGuardConfig{Runner: f, Peers: map[site.Peer]WireGuardPeer{
		{Site: "bj"}: {Interface: "wg0", PublicKey: keyBJ, Port: 51820},
		{Site: "sh"}: {Interface: "wg0", PublicKey: keySH, Port: 51821, Family: 6},
		{Site: "gz"}: {Interface: "wg9", PublicKey: keyBJ, Port: 51820},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWireGuardApply(t *testing.T) {
	tests := []struct {
		name      string
		change    Change
		key, want string
		sets      int
	}{
		{name: "ipv4 endpoint", change: change("bj", 4, "198.51.100.10"), key: keyBJ, want: "198.51.100.10:51820", sets: 1},
		{name: "ipv6 endpoint", change: change("sh", 6, "2001:db8::9"), key: keySH, want: "[2001:db8::9]:51821", sets: 1},
		{name: "already there", change: change("bj", 4, "198.51.100.9"), key: keyBJ, want: "198.51.100.9:51820", sets: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeWg{t: t, ifs: map[string]map[string]string{"wg0": {keyBJ: "198.51.100.9:51820", keySH: "(none)"}}}
			d := newWg(t, f)
			if !d.Wants(tc.change) {
				t.Fatal("Wants = false")
			}
			if err := d.Apply(context.Background(), tc.change); err != nil {
				t.Fatal(err)
			}
			if got := f.ifs["wg0"][tc.key]; got != tc.want {
				t.Errorf("endpoint = %q, want %q", got, tc.want)
			}
			sets := 0
			for _, c := range f.calls {
				if strings.HasPrefix(c, "wg set ") {
					sets++
				}
			}
			if sets != tc.sets {
				t.Errorf("got %d wg set calls, want %d (%q)", sets, tc.sets, f.calls)
			}
		})
	}
}

func TestWireGuardFailures(t *testing.T) {
	tests := []struct {
		name   string
		change Change
		fail   bool
		want   error
	}{
		{name: "no such interface", change: change("gz", 4, "192.0.2.9"), want: ErrApply},
		{name: "peer not on interface", change: change("bj", 4, "192.0.2.9"), want: ErrNotFound},
		{name: "tool fails", change: change("bj", 4, "192.0.2.9"), fail: true, want: ErrApply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeWg{t: t, fail: tc.fail, ifs: map[string]map[string]string{"wg0": {keySH: "(none)"}}}
			if err := newWg(t, f).Apply(context.Background(), tc.change); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewWireGuardRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		peer WireGuardPeer
	}{
		{name: "bad key", peer: WireGuardPeer{Interface: "wg0", PublicKey: "nope", Port: 1}},
		{name: "no port", peer: WireGuardPeer{Interface: "wg0", PublicKey: keyBJ}},
		{name: "option as interface", peer: WireGuardPeer{Interface: "-h", PublicKey: keyBJ, Port: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewWireGuard(WireGuardConfig{Peers: map[site.Peer]WireGuardPeer{{Site: "bj"}: tc.peer}}); err == nil {
				t.Fatal("got nil error")
			}
		})
	}
}
