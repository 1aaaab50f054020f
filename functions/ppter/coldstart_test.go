package main_test

import (
	"net/http"
	"testing"
	"time"
)

// TestColdStart runs the real binary under the FC emulator against a real Redis and reports
// what a cold start costs: process start to ready (asking for its first invocation), and
// the first invocations' latency through the gateway. The figures are reported, not
// asserted (they depend on the machine's load); the test asserts that the function gets
// ready and answers.
func TestColdStart(t *testing.T) {
	f := start(t, "")
	select {
	case <-f.emu.Ready():
	case <-f.emu.Exited():
		t.Fatalf("the function exited before it was ready:\n%s", f.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the function did not ask for an invocation within 30s")
	}
	t.Logf("process start to ready: %s", f.emu.StartupTime().Round(100*time.Microsecond))
	for _, name := range []string{"first /healthz", "second /healthz"} {
		t0 := time.Now()
		code, body, _ := f.do(t, req{method: http.MethodGet, path: "/healthz"})
		d := time.Since(t0)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		t.Logf("%s through the gateway: %s", name, d.Round(10*time.Microsecond))
	}
	t0 := time.Now()
	resp := f.ping(t, "hz", keyHZ, "203.0.113.7")
	t.Logf("first signed ping (records the address): %s", time.Since(t0).Round(10*time.Microsecond))
	if resp.IP.String() != "203.0.113.7" {
		t.Errorf("ping answered ip %q, want 203.0.113.7", resp.IP)
	}
}
