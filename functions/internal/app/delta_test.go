package app

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// TestPingSince: through the whole handler against a real Redis, a body with since gets a
// delta (only the peers changed after it, "delta": true), and a body without since, as
// old pingers send, gets every peer with "delta": false.
func TestPingSince(t *testing.T) {
	now := time.Now()
	a := newRedisApp(t, now)
	keys := map[string][]byte{"hz": []byte("hz-secret-0123456789abcdef"), "bj": []byte("bj-secret-0123456789abcdef")}
	n := 0
	ping := func(st, body, ip string) (wire.PingResponse, string) {
		t.Helper()
		n++
		h := auth.Header(cfgSite(st), keys[st], "POST", wire.PathPing, now.Unix(), fmt.Sprintf("since-test-%08d", n), []byte(body))
		out, err := a.Handle(context.Background(), event("POST", wire.PathPing, h, body, false, ip))
		if err != nil {
			t.Fatal(err)
		}
		code, raw := answer(t, out)
		if code != 200 {
			t.Fatalf("ping: %d %s", code, raw)
		}
		var pr wire.PingResponse
		if err := json.Unmarshal([]byte(raw), &pr); err != nil {
			t.Fatal(err)
		}
		return pr, raw
	}
	ping("bj", `{}`, "198.51.100.9")
	first, _ := ping("hz", `{}`, "203.0.113.7")
	if first.Delta || len(first.Peers) != 1 {
		t.Fatalf("first ping: delta=%v peers=%v, want every peer", first.Delta, first.Peers)
	}
	v := first.FleetVersion
	steady, raw := ping("hz", fmt.Sprintf(`{"agent":"test","since":%d}`, v), "203.0.113.7")
	if !steady.Delta || len(steady.Peers) != 0 || steady.FleetVersion != v {
		t.Fatalf("steady ping with since: %s, want an empty delta at version %d", raw, v)
	}
	ping("bj", `{}`, "198.51.100.10") // bj moves
	moved, raw := ping("hz", fmt.Sprintf(`{"since":%d}`, v), "203.0.113.7")
	if !moved.Delta || len(moved.Peers) != 1 || wire.AddrString(moved.Peers[0].IPv4) != "198.51.100.10" || moved.FleetVersion != v+1 {
		t.Fatalf("after bj moved: %s, want a delta with bj's new address at version %d", raw, v+1)
	}
	ahead, raw := ping("hz", fmt.Sprintf(`{"since":%d}`, v+100), "203.0.113.7")
	if ahead.Delta || len(ahead.Peers) != 1 {
		t.Fatalf("since ahead of the fleet: %s, want every peer with delta false", raw)
	}
	old, raw := ping("hz", `{"agent":"ppter-pinger/0.9"}`, "203.0.113.7")
	if old.Delta || len(old.Peers) != 1 {
		t.Fatalf("old pinger: %s, want every peer with delta false", raw)
	}
	var fields map[string]any
	json.Unmarshal([]byte(raw), &fields)
	if d, ok := fields["delta"]; !ok || d != false {
		t.Errorf(`answer without since: "delta" = %v (present %v), want false`, d, ok)
	}
}
