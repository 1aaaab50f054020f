//go:build !linux

package netwatch

import "context"

// Watch returns ErrUnsupported: only Linux reports network changes to the pinger.
func Watch(context.Context) (<-chan struct{}, error) { return nil, ErrUnsupported }
