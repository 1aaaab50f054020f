package netwatch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Watch listens for the host's address and route changes (rtnetlink) until ctx ends. The
// channel receives a value after each change that can move the office's public address —
// a global address added or removed, a default route of the main table added or removed —
// coalesced while the reader is behind; it is closed when ctx ends or reading fails.
func Watch(ctx context.Context) (<-chan struct{}, error) {
	f, err := open()
	if err != nil {
		return nil, err
	}
	return watch(ctx, f), nil
}

// open binds a netlink socket to the address and route groups of both families. The
// socket is non-blocking, so its reads go through the runtime's poller and Close ends
// them.
func open() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return os.NewFile(uintptr(fd), "rtnetlink"), nil
}

func watch(ctx context.Context, f *os.File) <-chan struct{} {
	ch := make(chan struct{}, 1)
	stop := context.AfterFunc(ctx, func() { f.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			switch {
			case errors.Is(err, unix.ENOBUFS):
				// The kernel dropped messages (a burst): something may have changed.
				notify(ch)
				continue
			case err != nil:
				return
			}
			if Relevant(buf[:n]) {
				notify(ch)
			}
		}
	}()
	return ch
}

// notify sends without blocking: a value already waiting stands for this change too.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Relevant reports whether the rtnetlink messages in b hold a change that can move the
// office's public address: a global-scope address added or removed (not a link-local or
// host one, not a tunnel's peer route), or a unicast default route of the main table added
// or removed. Truncated messages end the scan.
func Relevant(b []byte) bool {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch typ {
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			// struct ifaddrmsg: family, prefixlen, flags, scope, index.
			if len(body) >= unix.SizeofIfAddrmsg && body[3] == unix.RT_SCOPE_UNIVERSE {
				return true
			}
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
			if len(body) >= unix.SizeofRtMsg && body[1] == 0 && body[4] == unix.RT_TABLE_MAIN && body[7] == unix.RTN_UNICAST {
				return true
			}
		}
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
	}
	return false
}
