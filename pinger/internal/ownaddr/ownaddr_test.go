package ownaddr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/wire"
)

// host is a router: loopback, its LAN, a public WAN address in each family (documentation
// ranges stand for public ones, as the agent accepts them) and a link-local one.
var host = addrs("127.0.0.1", "::1", "192.168.1.1", "203.0.113.2", "2001:db8:1::1", "fe80::1")

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// hostList answers like HostAddrs from a list the test sets, or fails with err.
type hostList struct {
	addrs []netip.Addr
	err   error
	calls int
}

func (h *hostList) list() ([]netip.Addr, error) {
	h.calls++
	return h.addrs, h.err
}

func newChecker(h *hostList) (*Checker, *bytes.Buffer) {
	var log bytes.Buffer
	return New(h.list, slog.New(slog.NewTextHandler(&log, nil))), &log
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		seen       string
		host       []netip.Addr
		want       verdict
		wantPublic string
	}{
		{name: "the WAN address", seen: "203.0.113.2", host: host, want: own},
		{name: "the WAN address, IPv4-mapped", seen: "::ffff:203.0.113.2", host: host, want: own},
		{name: "the IPv6 WAN address", seen: "2001:db8:1::1", host: host, want: own},
		{name: "a proxy server", seen: "198.51.100.7", host: host, want: proxied, wantPublic: "203.0.113.2"},
		{name: "a proxy server over IPv6", seen: "2001:db8:99::7", host: host, want: proxied, wantPublic: "2001:db8:1::1"},
		{name: "WAN in CGNAT space", seen: "198.51.100.7", host: addrs("127.0.0.1", "192.168.1.1", "100.64.3.9"), want: behindNAT},
		{name: "WAN private (a router behind another)", seen: "198.51.100.7", host: addrs("127.0.0.1", "10.0.0.2"), want: behindNAT},
		{name: "public IPv4 only, ping over IPv6", seen: "2001:db8:99::7", host: addrs("203.0.113.2", "fe80::1", "fd00::2"), want: behindNAT},
		{name: "no addresses at all", seen: "198.51.100.7", want: behindNAT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, public := classify(netip.MustParseAddr(tc.seen).Unmap(), tc.host)
			if got != tc.want || strings.Join(public, ",") != tc.wantPublic {
				t.Errorf("got %v %q, want %v %q", got, public, tc.want, tc.wantPublic)
			}
		})
	}
}

// TestCheckWarnsOncePerAddress: as under --watch, the same checker sees cycle after cycle;
// a foreign address is warned of once, a second one once more, the host's own never.
func TestCheckWarnsOncePerAddress(t *testing.T) {
	h := &hostList{addrs: host}
	c, log := newChecker(h)
	for _, seen := range []string{"203.0.113.2", "198.51.100.7", "198.51.100.7", "203.0.113.2", "198.51.100.7", "192.0.2.8", "192.0.2.8"} {
		c.Check(netip.MustParseAddr(seen))
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2 (one per foreign address):\n%s", len(lines), log)
	}
	for i, ip := range []string{"198.51.100.7", "192.0.2.8"} {
		for _, want := range []string{"level=WARN", "a transparent proxy on the router most likely sent the ping through a proxy server", "ip=" + ip, "family=ipv4", "host=203.0.113.2", "help=" + Help} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("line %d %q does not say %q", i, lines[i], want)
			}
		}
	}
	if h.calls != 4 {
		t.Errorf("listed the host's addresses %d times, want 4 (once per check of an address not warned of yet: the WAN address may change; none for one already warned of)", h.calls)
	}
}

func TestCheckBehindNAT(t *testing.T) {
	c, log := newChecker(&hostList{addrs: addrs("127.0.0.1", "192.168.1.1", "100.64.3.9")})
	c.Check(netip.MustParseAddr("198.51.100.7"))
	c.Check(netip.MustParseAddr("198.51.100.7"))
	want := `level=WARN msg="this host has no public ipv4 address: the line is behind carrier NAT or another router, so the address the function saw is not this host's and inbound VPN connections will not reach it" ip=198.51.100.7 family=ipv4 help=` + Help + "\n"
	if got := strings.SplitN(log.String(), " ", 2); len(got) != 2 || got[1] != want {
		t.Errorf("got %q, want one line ending %q", log.String(), want)
	}
	if strings.Contains(log.String(), "transparent proxy") {
		t.Errorf("behind carrier NAT, the log blames a proxy: %s", log)
	}
}

func TestCheckListFailure(t *testing.T) {
	h := &hostList{err: errors.New("netlink: permission denied")}
	c, log := newChecker(h)
	c.Check(netip.MustParseAddr("198.51.100.7"))
	c.Check(netip.MustParseAddr("198.51.100.7"))
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), "cannot list this host's addresses") || !strings.Contains(log.String(), "permission denied") {
		t.Errorf("got %d lines %q, want one saying the listing failed and why", n, log)
	}
	h.err, h.addrs = nil, host
	c.Check(netip.MustParseAddr("198.51.100.7"))
	if !strings.Contains(log.String(), "ip=198.51.100.7") {
		t.Errorf("once the listing works the address is still checked: %s", log)
	}
}

// fakePinger answers once with resp or err, and refuses a second call.
type fakePinger struct {
	t     *testing.T
	resp  wire.PingResponse
	err   error
	calls int
}

func (f *fakePinger) Ping(_ context.Context, _ *int64) (wire.PingResponse, error) {
	f.calls++
	if f.calls > 1 {
		f.t.Errorf("fakePinger: ping %d, want one", f.calls)
	}
	return f.resp, f.err
}

func TestWrap(t *testing.T) {
	errDown := errors.New("function unreachable")
	tests := []struct {
		name     string
		resp     wire.PingResponse
		err      error
		wantWarn bool
	}{
		{name: "own address", resp: wire.PingResponse{IP: netip.MustParseAddr("203.0.113.2")}},
		{name: "proxy address", resp: wire.PingResponse{IP: netip.MustParseAddr("198.51.100.7")}, wantWarn: true},
		{name: "failed ping is not checked", resp: wire.PingResponse{IP: netip.MustParseAddr("198.51.100.7")}, err: errDown},
		{name: "no ip is the agent's to refuse", resp: wire.PingResponse{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &hostList{addrs: host}
			c, log := newChecker(h)
			p := &fakePinger{t: t, resp: tc.resp, err: tc.err}
			resp, err := c.Wrap(p).Ping(context.Background(), nil)
			if resp.IP != tc.resp.IP || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("got %+v, %v, want the inner answer %+v, %v", resp, err, tc.resp, tc.err)
			}
			if got := log.Len() > 0; got != tc.wantWarn {
				t.Errorf("warned: %v, want %v (%s)", got, tc.wantWarn, log)
			}
			if tc.err != nil && h.calls != 0 {
				t.Error("a failed ping listed the host's addresses")
			}
		})
	}
}

// TestHostAddrs: the real listing has this host's loopback address.
func TestHostAddrs(t *testing.T) {
	got, err := HostAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		if a == netip.MustParseAddr("127.0.0.1") {
			return
		}
	}
	t.Errorf("got %v, want 127.0.0.1 among them", got)
}
