package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// TestServerTimeIsAHintOnly walks through what a pinger does with server_time: a ping
// signed by a clock hours behind is refused with the function's time, a ping signed with
// the offset measured from it is accepted, and a ping signed with a forged server_time
// (the answer is not signed) is refused and records nothing: every signature's timestamp
// is still checked against the function's own clock.
func TestServerTimeIsAHintOnly(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	s, mem, _, _ := newGoldenServer(t, goldenConfig, nil, &now)
	n := 0
	ping := func(ts time.Time) (fcevent.Response, wire.ErrorBody) {
		t.Helper()
		n++
		nonce := fmt.Sprintf("clock-nonce-%06d", n)
		h := &fcevent.HTTP{RequestID: "req-1", Method: http.MethodPost, Path: wire.PathPing, Query: url.Values{}, Header: http.Header{},
			Source: netip.MustParseAddr("203.0.113.7")}
		h.Header.Set("Authorization", auth.Header("hz", []byte("hz-secret-0123456789abcdef"), http.MethodPost, wire.PathPing, ts.Unix(), nonce, nil))
		r, _ := s.Serve(ctx, h, nil)
		if got, want := r.Header["Date"], now.Format(http.TimeFormat); got != want {
			t.Errorf("Date: got %q, want %q", got, want)
		}
		var er wire.ErrorResponse
		if r.Status != http.StatusOK {
			if err := json.Unmarshal(r.Body, &er); err != nil {
				t.Fatalf("error answer %s: %v", r.Body, err)
			}
		}
		return r, er.Error
	}
	recorded := func() int {
		t.Helper()
		recs, _, err := mem.Fleet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	behind := now.Add(-3 * time.Hour) // the office's clock
	r, e := ping(behind)
	if r.Status != http.StatusUnauthorized || e.Code != wire.CodeStaleTimestamp {
		t.Fatalf("clock 3h behind: got %d %s, want 401 %s", r.Status, e.Code, wire.CodeStaleTimestamp)
	}
	if !e.ServerTime.Equal(now) {
		t.Fatalf("server_time: got %v, want %v", e.ServerTime, now)
	}
	// A forged server_time, 30 minutes ahead of the (right) office clock: the pinger signs
	// with it and the function refuses, recording nothing.
	if r, e := ping(now.Add(30 * time.Minute)); r.Status != http.StatusUnauthorized || e.Code != wire.CodeStaleTimestamp {
		t.Errorf("forged server_time: got %d %s, want 401 %s", r.Status, e.Code, wire.CodeStaleTimestamp)
	}
	if got := recorded(); got != 0 {
		t.Fatalf("after refused pings: %d records, want 0", got)
	}
	offset := e.ServerTime.Sub(behind)
	if r, _ := ping(behind.Add(offset)); r.Status != http.StatusOK {
		t.Fatalf("signed with the measured offset: got %d %s, want 200", r.Status, r.Body)
	}
	if got := recorded(); got != 1 {
		t.Errorf("after the corrected ping: %d records, want 1", got)
	}
}
