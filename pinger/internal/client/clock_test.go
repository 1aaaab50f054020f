package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppter/ppter/pinger/internal/fakefn"
	"github.com/ppter/ppter/shared/wire"
)

// TestClockSkew pings a fake function whose clock is off (as if the office's clock were):
// within the bounds the client retries once with the measured offset and keeps it; over
// them it refuses, naming the bound, and corrects nothing.
func TestClockSkew(t *testing.T) {
	tests := []struct {
		name    string
		skew    time.Duration // the function's clock minus the office's
		want    error
		refused int
		log     string
	}{
		{name: "behind within the cap", skew: time.Hour, refused: 1, log: `level=WARN msg="the local clock is behind the function's; signing with the function's time for the rest of this run; set the clock (NTP)" skew=1h0m0s`},
		{name: "ahead, a time zone taken for UTC", skew: -8 * time.Hour, refused: 1, log: `msg="the local clock is ahead of the function's; signing with the function's time for the rest of this run; set the clock (NTP)" skew=8h0m0s`},
		{name: "within the window", skew: 4 * time.Minute, refused: 0},
		{name: "behind over the cap", skew: 3 * time.Hour, want: ErrClockSkew, refused: 1, log: "more than the 2h0m0s the pinger corrects"},
		{name: "ahead over the cap", skew: -49 * time.Hour, want: ErrClockSkew, refused: 1, log: "more than the 48h0m0s the pinger corrects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := fakefn.New(t, map[sitename]string{"hz": secret}, nil)
			fn.SetClockOffset(tc.skew)
			var logs bytes.Buffer
			clock := NewClock(slog.New(slog.NewTextHandler(&logs, nil)))
			c := newClient(t, fn.URL, Options{Clock: clock})
			_, err := c.Ping(context.Background(), nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && !errors.Is(err, ErrRejected) {
				t.Errorf("got %v, want it to be %v too (the exit code of a refusal)", err, ErrRejected)
			}
			if got := fn.Refused(); got != tc.refused {
				t.Errorf("refused: got %d, want %d", got, tc.refused)
			}
			text := logs.String()
			if err != nil {
				text = err.Error()
			}
			if !strings.Contains(text, tc.log) {
				t.Errorf("log: got %q, want it to contain %q", text, tc.log)
			}
			wantOffset := tc.skew
			if tc.want != nil || tc.refused == 0 {
				wantOffset = 0
			}
			if got := clock.Offset(); (got - wantOffset).Abs() > 2*time.Second {
				t.Fatalf("offset: got %v, want %v", got, wantOffset)
			}
			if tc.want != nil {
				return
			}
			// The offset holds for the next ping: it is accepted at once.
			if _, err := c.Ping(context.Background(), nil); err != nil {
				t.Fatalf("second ping: %v", err)
			}
			if got := fn.Refused(); got != tc.refused {
				t.Errorf("second ping: refused %d in all, want %d", got, tc.refused)
			}
		})
	}
}

// TestClockFixedDropsOffset: once the office's clock is right again, the stale answer to a
// ping signed with the offset says so: the client drops the offset, retries with its own
// clock and is accepted.
func TestClockFixedDropsOffset(t *testing.T) {
	fn := fakefn.New(t, map[sitename]string{"hz": secret}, nil)
	fn.SetClockOffset(time.Hour)
	var logs bytes.Buffer
	clock := NewClock(slog.New(slog.NewTextHandler(&logs, nil)))
	c := newClient(t, fn.URL, Options{Clock: clock})
	if _, err := c.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	fn.SetClockOffset(0) // NTP set the office's clock
	if _, err := c.Ping(context.Background(), nil); err != nil {
		t.Fatalf("after the clock was set: %v", err)
	}
	if got := clock.Offset(); got != 0 {
		t.Errorf("offset: got %v, want 0", got)
	}
	if got, want := fn.Refused(), 2; got != want {
		t.Errorf("refused: got %d, want %d", got, want)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="the local clock agrees with the function's again; signing with it"`) {
		t.Errorf("log: got %q, want the clock agreeing again", logs.String())
	}
}

// TestStaleWithoutRetry: a stale answer gets no retry when it carries no server_time (an
// older function) or when the retry would sign as the refused ping did (a server_time that
// keeps contradicting the refusal, as a forged one does): one retry at most, never a loop.
// The answer without server_time comes after an offset was learnt: it measures nothing,
// so the offset holds (it is not taken for a clock that agrees again, nor for one off
// beyond the bounds).
func TestStaleWithoutRetry(t *testing.T) {
	tests := []struct {
		name       string
		serverTime func() time.Time
		learnt     time.Duration // the offset learnt before the pings
		requests   [2]int32      // of the first ping and of the next
		offset     time.Duration // after them
	}{
		{name: "no server_time", serverTime: func() time.Time { return time.Time{} }, learnt: time.Hour, requests: [2]int32{1, 1}, offset: time.Hour},
		// The first retry signs with the forged time; the next ping signs with it at once.
		{name: "forged server_time refused again", serverTime: func() time.Time { return time.Now().Add(30 * time.Minute) }, requests: [2]int32{2, 1}, offset: 30 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := fakeHandler(t, func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(wire.ErrorResponse{Error: wire.ErrorBody{Code: wire.CodeStaleTimestamp, Message: "stale", ServerTime: tc.serverTime()}})
			})
			var logs bytes.Buffer
			clock := NewClock(slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.learnt != 0 {
				if _, err := clock.learn(tc.learnt, 0); err != nil {
					t.Fatal(err)
				}
				logs.Reset()
			}
			c := newClient(t, srv, Options{Clock: clock})
			for i := range 2 {
				n.Store(0)
				_, err := c.Ping(context.Background(), nil)
				if !errors.Is(err, ErrRejected) || errors.Is(err, ErrClockSkew) {
					t.Fatalf("got %v, want %v (and not %v)", err, ErrRejected, ErrClockSkew)
				}
				if got := n.Load(); got != tc.requests[i] {
					t.Errorf("ping %d: got %d requests, want %d", i+1, got, tc.requests[i])
				}
			}
			if got := clock.Offset(); (got - tc.offset).Abs() > 2*time.Second {
				t.Errorf("offset: got %v, want %v", got, tc.offset)
			}
			if strings.Contains(logs.String(), "agrees with the function's again") {
				t.Errorf("log: got %q, want no clock agreeing again", logs.String())
			}
		})
	}
}
