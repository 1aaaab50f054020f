//go:build !linux

package client

import (
	"fmt"
	"runtime"
	"syscall"
)

// control refuses an interface binding, which only Linux has (SO_BINDTODEVICE); the IPv6
// source preference is left to the system.
func control(iface string, _ bool) (func(network, address string, c syscall.RawConn) error, error) {
	if iface != "" {
		return nil, fmt.Errorf("%w: binding to an interface (%s) needs Linux (SO_BINDTODEVICE), this is %s; use a bind address", ErrNoInterfaceBinding, iface, runtime.GOOS)
	}
	return nil, nil
}
