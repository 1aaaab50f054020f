package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ppter/ppter/shared/wire"
)

// sockopt reads an option of the socket behind c.
func sockopt(t *testing.T, c syscall.Conn, read func(fd int) error) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rerr error
	if err := rc.Control(func(fd uintptr) { rerr = read(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
}

// TestIPv6PrefersPublicSource reads back IPV6_ADDR_PREFERENCES from a socket set up by the
// IPv6 control: IPV6_PREFER_SRC_PUBLIC; an IPv4 socket is left alone.
func TestIPv6PrefersPublicSource(t *testing.T) {
	ctl, err := control("", true)
	if err != nil {
		t.Fatal(err)
	}
	lc := net.ListenConfig{Control: ctl}
	ln, err := lc.Listen(context.Background(), "tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	sockopt(t, ln.(*net.TCPListener), func(fd int) error {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_ADDR_PREFERENCES)
		if err == nil && v&ipv6PreferSrcPublic == 0 {
			t.Errorf("IPV6_ADDR_PREFERENCES = %#x, want IPV6_PREFER_SRC_PUBLIC (%#x) set", v, ipv6PreferSrcPublic)
		}
		return err
	})
	if c, _ := control("", false); c != nil {
		t.Error("control without interface or preference is not nil")
	}
}

// TestTransportPrefersPublicSource dials through NewTransport's own dialer: an IPv6
// connection's socket has IPV6_PREFER_SRC_PUBLIC set, as TestIPv6PrefersPublicSource's
// control sets it.
func TestTransportPrefersPublicSource(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	for _, src := range []Source{{}, {Interface: "lo"}} {
		tr, err := NewTransport(wire.IPv6, src)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tr.DialContext(context.Background(), "tcp", ln.Addr().String())
		if errors.Is(err, unix.EPERM) {
			t.Logf("source %+v: SO_BINDTODEVICE needs CAP_NET_RAW here: %v", src, err)
			continue
		}
		if err != nil {
			t.Fatalf("source %+v: dial [::1]: %v", src, err)
		}
		sockopt(t, c.(*net.TCPConn), func(fd int) error {
			v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_ADDR_PREFERENCES)
			if err == nil && v&ipv6PreferSrcPublic == 0 {
				t.Errorf("source %+v: IPV6_ADDR_PREFERENCES = %#x, want IPV6_PREFER_SRC_PUBLIC (%#x) set", src, v, ipv6PreferSrcPublic)
			}
			return err
		})
		c.Close()
	}
}

// TestTransportResolver checks the resolver of NewTransport's dialer: the system's for a
// ping that is not bound, the line's own (its queries bound to the interface, or sent
// from the bind address) for a bound one. The bind fails before anything is sent:
// no-such-if0 does not exist and 192.0.2.1 is not this host's.
func TestTransportResolver(t *testing.T) {
	d, _, err := dialer(wire.IPv4, Source{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Resolver != nil {
		t.Error("an unbound ping has a resolver of its own, want the system's")
	}
	for _, tc := range []struct {
		src  Source
		want func(error) bool
	}{
		{Source{Interface: "no-such-if0"}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "bind to interface no-such-if0")
		}},
		{Source{Address: netip.MustParseAddr("192.0.2.1")}, func(err error) bool { return errors.Is(err, unix.EADDRNOTAVAIL) }},
	} {
		d, _, err := dialer(wire.IPv4, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if d.Resolver == nil || d.Resolver.Dial == nil {
			t.Errorf("source %+v: the dialer has no resolver of its own", tc.src)
			continue
		}
		c, err := d.Resolver.Dial(context.Background(), "udp", "192.0.2.53:53")
		if err == nil {
			c.Close()
		}
		if !tc.want(err) {
			t.Errorf("source %+v: query to 192.0.2.53: got %v, want it bound by the line", tc.src, err)
		}
	}
}

// TestBindToInterface checks that a ping bound to lo reaches a loopback function, that the
// socket says it is bound to lo, and that an interface that does not exist fails the dial.
func TestBindToInterface(t *testing.T) {
	ctl, err := control("lo", false)
	if err != nil {
		t.Fatal(err)
	}
	lc := net.ListenConfig{Control: ctl}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if errors.Is(err, unix.EPERM) {
		t.Skipf("SO_BINDTODEVICE needs CAP_NET_RAW here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sockopt(t, ln.(*net.TCPListener), func(fd int) error {
		v, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
		if err == nil && v != "lo" {
			t.Errorf("SO_BINDTODEVICE = %q, want lo", v)
		}
		return err
	})

	srv := fakeHandler(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"site":"hz","ip":"127.0.0.1"}`))
	})
	c := newClient(t, srv, Options{Source: Source{Interface: "lo"}})
	if _, err := c.Ping(context.Background(), nil); err != nil {
		t.Fatalf("ping bound to lo: %v", err)
	}
	tr, err := NewTransport(wire.IPv4, Source{Interface: "no-such-if0"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&http.Client{Transport: tr}).Get(srv)
	if err == nil || !strings.Contains(err.Error(), "bind to interface no-such-if0") {
		t.Fatalf("got %v, want a bind to interface error", err)
	}
}

// TestDNSByTheLine checks the resolver of a bound ping: its queries to a DNS server are
// bound to the interface too (here one that does not exist, so the dial fails), while a
// loopback DNS server (dnsmasq, systemd-resolved) is asked unbound.
func TestDNSByTheLine(t *testing.T) {
	r, err := boundResolver(Source{Interface: "no-such-if0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Dial(context.Background(), "udp", "192.0.2.53:53"); err == nil || !strings.Contains(err.Error(), "bind to interface no-such-if0") {
		t.Errorf("query to 192.0.2.53: got %v, want a bind to interface error", err)
	}
	c, err := r.Dial(context.Background(), "udp", "127.0.0.53:53")
	if err != nil {
		t.Fatalf("query to a loopback server: %v", err)
	}
	c.Close()

	// From a bind address (192.0.2.1, not this host's: the bind fails before anything is
	// sent), queries to a server of its family leave from it, over UDP and TCP; one to a
	// server of the other family, or on loopback, is dialled as without a bind address
	// (UDP: connecting sends nothing).
	r, err = boundResolver(Source{Address: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, network := range []string{"udp", "tcp"} {
		if _, err := r.Dial(ctx, network, "192.0.2.53:53"); !errors.Is(err, unix.EADDRNOTAVAIL) {
			t.Errorf("%s query to 192.0.2.53 from 192.0.2.1: got %v, want EADDRNOTAVAIL (sent from the bind address)", network, err)
		}
	}
	for _, server := range []string{"[2001:db8::53]:53", "127.0.0.53:53"} {
		var plain net.Dialer
		pc, perr := plain.DialContext(ctx, "udp", server)
		if perr == nil {
			pc.Close()
		}
		c, err := r.Dial(ctx, "udp", server)
		if err == nil {
			c.Close()
		}
		if (err == nil) != (perr == nil) {
			t.Errorf("query to %s: got %v, want %v as without a bind address (not sent from 192.0.2.1)", server, err, perr)
		}
	}
}
