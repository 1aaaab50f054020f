package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// TestClockSkew runs the pinger against a function whose clock is off by skew, as if the
// office's clock were: within the cap it retries once with the measured offset, warns and
// applies the change; over it the cycle is refused (exit 3), naming the cap, and nothing is
// applied.
func TestClockSkew(t *testing.T) {
	tests := []struct {
		name    string
		skew    time.Duration // the function's clock minus the office's
		code    int
		refused int
		log     string
	}{
		{name: "behind within the cap", skew: 90 * time.Minute, code: 0, refused: 1,
			log: `level=WARN msg="the local clock is behind the function's; signing with the function's time for the rest of this run; set the clock (NTP)" skew=1h30m0s`},
		{name: "ahead within the cap", skew: -8 * time.Hour, code: 0, refused: 1,
			log: `level=WARN msg="the local clock is ahead of the function's; signing with the function's time for the rest of this run; set the clock (NTP)" skew=8h0m0s`},
		{name: "behind over the cap", skew: 3 * time.Hour, code: 3, refused: 1,
			log: "clock skew beyond what the pinger corrects: the local clock is 3h0m0s behind the function's, more than the 2h0m0s the pinger corrects; set it (NTP)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fn.SetClockOffset(tc.skew)
			code, _, stderr := e.run(nil)
			if code != tc.code {
				t.Fatalf("got exit %d, want %d (%s)", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.log) {
				t.Errorf("got log %q, want it to contain %q", stderr, tc.log)
			}
			if got := e.fn.Refused(); got != tc.refused {
				t.Errorf("got %d refused pings, want %d", got, tc.refused)
			}
			wantPings, wantHook := 1, "bj >198.51.100.9"
			if tc.code != 0 {
				wantPings, wantHook = 0, ""
			}
			if got := e.fn.Pings(); got != wantPings {
				t.Errorf("got %d accepted pings, want %d", got, wantPings)
			}
			if got := strings.Join(e.hookLines(), ","); got != wantHook {
				t.Errorf("hook: got %q, want %q", got, wantHook)
			}
		})
	}
}

// TestForgedServerTime: someone on the path answers the first ping with a stale_timestamp
// of their own whose server_time is 30 minutes ahead (within the cap). The pinger retries
// signing with it; the function, whose clock agrees with the office's, refuses the retry:
// a failed ping (exit 3), nothing recorded, no state file, no hook.
func TestForgedServerTime(t *testing.T) {
	e := newEnv(t)
	target, err := url.Parse(e.fn.URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	var forged atomic.Bool
	mitm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forged.CompareAndSwap(false, true) {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(wire.ErrorResponse{Error: wire.ErrorBody{Code: wire.CodeStaleTimestamp, Message: "forged",
				ServerTime: wire.ServerTime(time.Now().Add(30 * time.Minute))}})
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(mitm.Close)
	code, _, stderr := e.run([]string{"--url", mitm.URL})
	if code != 3 || !strings.Contains(stderr, "HTTP 401 stale_timestamp") {
		t.Errorf("got exit %d (%s), want 3 and the function's stale_timestamp", code, stderr)
	}
	if !strings.Contains(stderr, "skew=30m") {
		t.Errorf("got log %q, want the warning of a 30m skew", stderr)
	}
	if e.fn.Pings() != 0 || e.fn.Refused() != 1 || e.hookLines() != nil || e.stateBytes() != "" {
		t.Errorf("the forged time was accepted: %d pings, %d refused, hook %q, state %q", e.fn.Pings(), e.fn.Refused(), e.hookLines(), e.stateBytes())
	}
}

// TestWatchKeepsClockOffset: with --watch, the offset learnt in the first cycle signs the
// next cycle's ping at once (one refusal in all). The test waits out one interval (the
// shortest --watch, 5 s).
func TestWatchKeepsClockOffset(t *testing.T) {
	e := newEnv(t)
	e.fn.SetClockOffset(time.Hour)
	target, err := url.Parse(e.fn.URL)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{}, 2)
	forward := httputil.NewSingleHostReverseProxy(target)
	forward.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusOK {
			select {
			case answered <- struct{}{}:
			default: // the test has seen the two it waits for
			}
		}
		return nil
	}
	proxy := httptest.NewServer(forward)
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--url", proxy.URL, "--site", "hz", "--state", e.state, "--exec", hook, "--watch", "5s"}
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, e.base, &out, &errb) }()
	for i := range 2 {
		select {
		case <-answered:
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer to ping %d", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch: %v", err)
	}
	if got := e.fn.Refused(); got != 1 {
		t.Errorf("got %d refused pings, want 1 (the first cycle's; the second signs with the offset)", got)
	}
	if got := strings.Count(errb.String(), "signing with the function's time"); got != 1 {
		t.Errorf("got %d skew warnings, want 1:\n%s", got, errb.String())
	}
}
