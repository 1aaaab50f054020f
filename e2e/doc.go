// Package e2e proves on a real network that tunnels between offices heal after an office's
// public address changes: it builds a small internet from network namespaces (a cloud with
// Redis and the function under the Function Compute emulator, two offices with a WAN and a
// LAN address, a pinger each and a real tunnel between them), moves the offices' addresses
// and measures how long LAN-to-LAN traffic takes to flow again. TestTwoLines gives one office
// a second line with a tunnel of its own, moves that line and checks that only its tunnel
// is re-pointed while the other carries traffic throughout.
//
// The tests need root and are behind the e2e build tag, so `go test ./...` skips them:
//
//	make e2e   # go test -tags e2e -count=1 -v -timeout 15m ./e2e/
package e2e
