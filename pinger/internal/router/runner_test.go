package router

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/site"
)

// guard is how long a test waits for a call that must give up by itself; it polls a real
// process, so it is a bound, not a sleep.
const guard = 20 * time.Second

// within runs f and fails the test if it has not returned after guard.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(guard):
		t.Fatalf("still running after %s: a hung tool would freeze the pinger", guard)
		return nil
	}
}

// TestExecRunnerGivesUp: a hung tool is killed at the deadline, and Run returns even when
// a child of it still holds its output (WaitDelay) (issue 11, point 12).
func TestExecRunnerGivesUp(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "hung tool", args: []string{"-c", "exec sleep 60"}},
		{name: "child keeps the output open", args: []string{"-c", "sleep 60 & wait"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := within(t, func() error {
				_, err := ExecRunner{}.Run(ctx, "/bin/sh", tc.args...)
				return err
			})
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("got %v, want ErrTimeout", err)
			}
		})
	}
}

// TestDriversBoundTheirTools: the wireguard and strongswan drivers give a hung tool their
// timeout and no more (issue 11, point 12).
func TestDriversBoundTheirTools(t *testing.T) {
	hung := filepath.Join(t.TempDir(), "hung-tool")
	if err := os.WriteFile(hung, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wg, err := NewWireGuard(WireGuardConfig{Wg: hung, Timeout: 50 * time.Millisecond,
		Peers: map[site.Peer]WireGuardPeer{{Site: "bj"}: {Interface: "wg0", PublicKey: keyBJ, Port: 51820}}})
	if err != nil {
		t.Fatal(err)
	}
	swan, err := NewStrongSwan(StrongSwanConfig{Swanctl: hung, Timeout: 50 * time.Millisecond, ConfDir: t.TempDir(),
		Peers: map[site.Peer]StrongSwanPeer{{Site: "bj"}: {Connection: "to-bj"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := Change{Peer: "bj", Family: 4, New: netip.MustParseAddr("198.51.100.10")}
	for name, d := range map[string]Driver{"wireguard": wg, "strongswan": swan} {
		t.Run(name, func(t *testing.T) {
			err := within(t, func() error { return d.Apply(context.Background(), c) })
			if !errors.Is(err, ErrApply) || !strings.Contains(err.Error(), "timed out") {
				t.Errorf("got %v, want ErrApply saying the tool timed out", err)
			}
		})
	}
}
