// Package pinger is the ppter office client. The binary is cmd/ppter-pinger; the pieces
// live in internal/: config (flags, env, YAML), client (the signed ping), agent (one cycle
// and the watch loop), state (the state file), lock, atomicfile and router (the drivers).
// This package holds only the end-to-end test against the real function; see README.md.
package pinger
