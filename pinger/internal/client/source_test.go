package client

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"testing"

	"github.com/ppter/ppter/pinger/internal/fakefn"
	"github.com/ppter/ppter/shared/wire"
)

// TestPingReportsItsLine checks that the ping names its line (the function records it
// there) and that a line the site does not declare is ErrUnknownLine, a request error.
func TestPingReportsItsLine(t *testing.T) {
	fn := fakefn.New(t, map[sitename]string{"hz": secret}, nil)
	fn.DeclareLines("hz", "telecom", "unicom")
	resp, err := newClient(t, fn.URL, Options{Line: "unicom"}).Ping(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Line != "unicom" || !fn.Addr("hz", "unicom", wire.IPv4).IsValid() || fn.Addr("hz", "telecom", wire.IPv4).IsValid() {
		t.Errorf("got line %q, unicom %s, telecom %s; want the ping recorded on unicom only", resp.Line, fn.Addr("hz", "unicom", wire.IPv4), fn.Addr("hz", "telecom", wire.IPv4))
	}
	_, err = newClient(t, fn.URL, Options{Line: "mobile"}).Ping(context.Background(), nil)
	if !errors.Is(err, ErrUnknownLine) || !errors.Is(err, ErrRequest) {
		t.Errorf("got %v, want ErrUnknownLine (an ErrRequest)", err)
	}
}

// TestPingFromBindAddress checks that the ping leaves from Source.Address: the function
// sees 127.0.0.2, not the 127.0.0.1 it would see otherwise (Linux answers for all of
// 127.0.0.0/8; elsewhere the address may not exist, and the test is skipped).
func TestPingFromBindAddress(t *testing.T) {
	needLoopback2(t)
	fn := fakefn.New(t, map[sitename]string{"hz": secret}, nil)
	c := newClient(t, fn.URL, Options{Source: Source{Address: netip.MustParseAddr("127.0.0.2")}})
	resp, err := c.Ping(context.Background(), nil)
	if err != nil {
		t.Fatalf("ping from 127.0.0.2: %v", err)
	}
	if got, want := resp.IP, netip.MustParseAddr("127.0.0.2"); got != want {
		t.Errorf("function saw %s, want %s", got, want)
	}
}

func TestNewRefusesBadSource(t *testing.T) {
	_, err := NewTransport(wire.IPv4, Source{Interface: "eth0"})
	if linux := runtime.GOOS == "linux"; linux != (err == nil) || !linux && !errors.Is(err, ErrNoInterfaceBinding) {
		t.Fatalf("got %v, want nil on Linux, else ErrNoInterfaceBinding", err)
	}
}
