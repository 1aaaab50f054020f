package client

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// ipv6PreferSrcPublic is IPV6_PREFER_SRC_PUBLIC of the kernel's include/uapi/linux/in6.h
// (RFC 5014 source address selection), the value of socket option unix.IPV6_ADDR_PREFERENCES
// (72) that asks for a public (stable, not temporary privacy) source address.
const ipv6PreferSrcPublic = 0x0002

// control returns the net.Dialer Control that binds each socket to iface (SO_BINDTODEVICE;
// none when empty) and, on an IPv6 socket when preferPublic, asks the kernel for a stable
// source address; nil when there is nothing to do. (Not inlined: the closure would be
// compiled twice, a cost on small routers.)
//
//go:noinline
func control(iface string, preferPublic bool) (func(network, address string, c syscall.RawConn) error, error) {
	if iface == "" && !preferPublic {
		return nil, nil
	}
	return func(network, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if iface != "" {
				if serr = unix.BindToDevice(int(fd), iface); serr != nil {
					serr = fmt.Errorf("bind to interface %s: %w", iface, serr)
					return
				}
			}
			if preferPublic && (network == "tcp6" || network == "udp6") {
				if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_ADDR_PREFERENCES, ipv6PreferSrcPublic); serr != nil {
					serr = fmt.Errorf("prefer a public IPv6 source address: %w", serr)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}, nil
}
