package netwatch

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// msg builds one rtnetlink message of type typ with body, padded to the alignment.
func msg(typ uint16, body ...byte) []byte {
	l := unix.NLMSG_HDRLEN + len(body)
	b := make([]byte, unix.NLMSG_HDRLEN, (l+3)&^3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(l))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	b = append(b, body...)
	return append(b, make([]byte, cap(b)-len(b))...)
}

// addr is an ifaddrmsg (with one attribute's worth of padding) of the given scope.
func addr(typ uint16, scope byte) []byte {
	return msg(typ, unix.AF_INET, 24, 0, scope, 2, 0, 0, 0)
}

// route is an rtmsg: dst_len, table and type as given.
func route(typ uint16, dstLen, table, rtype byte) []byte {
	return msg(typ, unix.AF_INET, dstLen, 0, 0, table, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, rtype, 0, 0, 0, 0)
}

func TestRelevant(t *testing.T) {
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"global address added", addr(unix.RTM_NEWADDR, unix.RT_SCOPE_UNIVERSE), true},
		{"global address removed", addr(unix.RTM_DELADDR, unix.RT_SCOPE_UNIVERSE), true},
		{"link-local address", addr(unix.RTM_NEWADDR, unix.RT_SCOPE_LINK), false},
		{"host address", addr(unix.RTM_NEWADDR, unix.RT_SCOPE_HOST), false},
		{"default route added", route(unix.RTM_NEWROUTE, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST), true},
		{"default route removed", route(unix.RTM_DELROUTE, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST), true},
		{"a /24 route (a tunnel's peer)", route(unix.RTM_NEWROUTE, 24, unix.RT_TABLE_MAIN, unix.RTN_UNICAST), false},
		{"default route of another table", route(unix.RTM_NEWROUTE, 0, unix.RT_TABLE_LOCAL, unix.RTN_UNICAST), false},
		{"unreachable default", route(unix.RTM_NEWROUTE, 0, unix.RT_TABLE_MAIN, unix.RTN_UNREACHABLE), false},
		{"a link message", msg(unix.RTM_NEWLINK, make([]byte, 16)...), false},
		{"the second message matters", cat(addr(unix.RTM_NEWADDR, unix.RT_SCOPE_LINK), route(unix.RTM_NEWROUTE, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST)), true},
		{"truncated", addr(unix.RTM_NEWADDR, unix.RT_SCOPE_UNIVERSE)[:20], false},
		{"short body", msg(unix.RTM_NEWADDR, 2, 24), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Relevant(tt.b); got != tt.want {
				t.Errorf("Relevant = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWatchNamespace adds an address in a new network namespace and waits for the
// event; it needs root (the e2e harness runs as root) and is skipped otherwise.
func TestWatchNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	type result struct {
		ch  <-chan struct{}
		err error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan result, 1)
	added := make(chan error, 1)
	go func() {
		// The thread stays in the new namespace and ends with this goroutine (it is
		// never unlocked); the sockets made here belong to that namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			got <- result{err: err}
			return
		}
		ch, err := Watch(ctx)
		got <- result{ch, err}
		if err != nil {
			return
		}
		added <- addAddr(1, [4]byte{192, 0, 2, 1}, 24) // lo is index 1 in a new namespace
	}()
	r := <-got
	if errors.Is(r.err, unix.EPERM) {
		t.Skipf("no network namespace here: %v", r.err)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := <-added; err != nil {
		t.Fatalf("add address: %v", err)
	}
	select {
	case <-r.ch:
	case <-time.After(10 * time.Second): // a kernel event: a deadline, not a sleep
		t.Fatal("no event for an address added")
	}
	cancel()
	for range r.ch { // closed once ctx ends
	}
}

// addAddr adds a/prefix to interface index with an RTM_NEWADDR request and waits for the
// kernel's acknowledgement.
func addAddr(index uint32, a [4]byte, prefix byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	body := []byte{unix.AF_INET, prefix, 0, unix.RT_SCOPE_UNIVERSE, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(body[4:8], index)
	for _, typ := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		attr := make([]byte, 4, 8)
		binary.NativeEndian.PutUint16(attr[0:2], 8)
		binary.NativeEndian.PutUint16(attr[2:4], typ)
		body = append(body, append(attr, a[:]...)...)
	}
	m := msg(unix.RTM_NEWADDR, body...)
	binary.NativeEndian.PutUint16(m[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	binary.NativeEndian.PutUint32(m[8:12], 1)
	if err := unix.Sendto(fd, m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	if n >= unix.NLMSG_HDRLEN+4 && binary.NativeEndian.Uint16(buf[4:6]) == unix.NLMSG_ERROR {
		if code := int32(binary.NativeEndian.Uint32(buf[16:20])); code != 0 {
			return unix.Errno(-code)
		}
	}
	return nil
}
