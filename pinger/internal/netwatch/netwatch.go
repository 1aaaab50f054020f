// Package netwatch tells the pinger when the host's addresses or default route change, so
// --watch reports a new address at once instead of at its next interval. On Linux it
// listens to rtnetlink; on other systems Watch returns ErrUnsupported and the interval
// alone drives the pings.
package netwatch

import "errors"

// ErrUnsupported means this system has no network change events the pinger can read.
var ErrUnsupported = errors.New("network change events are not supported on this system")
