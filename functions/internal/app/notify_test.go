package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// TestNotifications follows a site through a change, a silence and its return, with a
// generic JSON webhook, and checks each event is sent exactly once — and that a failing
// webhook never fails a ping.
func TestNotifications(t *testing.T) {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %s is not JSON", b)
		}
		mu.Lock()
		got = append(got, m["kind"].(string)+" "+m["site"].(string))
		mu.Unlock()
	}))
	defer recv.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer broken.Close()

	cfg, err := config.Parse([]byte(testConfig+`
ping: { interval: 1m }
notify:
  - { kind: json, url: "`+recv.URL+`" }
  - { kind: wecom, url: "`+broken.URL+`" }
`), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	n, err := notify.New(cfg.Notify, notify.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	opt := StoreOptions(cfg)
	opt.Now = clock
	a := NewWith(cfg, store.NewMemory(opt), slog.New(slog.DiscardHandler), clock, api.Options{Notifier: n})
	ctx := context.Background()
	ping := func(ip string) {
		t.Helper()
		h := auth.Header("hz", []byte("hz-secret-0123456789abcdef"), "POST", wire.PathPing, now.Unix(), auth.NewNonce(), nil)
		out, err := a.Handle(ctx, event("POST", wire.PathPing, h, "", false, ip))
		if err != nil {
			t.Fatal(err)
		}
		if code, body := answer(t, out); code != 200 {
			t.Fatalf("ping: %d %s", code, body)
		}
	}
	tick := func() {
		t.Helper()
		if _, err := a.Handle(ctx, json.RawMessage(`{"triggerTime":"x","triggerName":"reconcile"}`)); err != nil {
			t.Fatal(err)
		}
	}
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		g := got
		got = nil
		return g
	}
	expect := func(step string, want ...string) {
		t.Helper()
		g := take()
		slices.Sort(g) // sends run concurrently
		slices.Sort(want)
		if len(g) != len(want) {
			t.Fatalf("%s: sent %q, want %q", step, g, want)
		}
		for i := range g {
			if g[i] != want[i] {
				t.Fatalf("%s: sent %q, want %q", step, g, want)
			}
		}
	}
	ping("203.0.113.7")
	expect("first ping", "address_changed hz")
	ping("203.0.113.7")
	expect("steady ping")
	now = now.Add(2 * time.Minute)
	tick()
	expect("timer before stale_after")
	now = now.Add(2 * time.Minute) // 4m > 3 × 1m
	tick()
	expect("timer after stale_after", "site_stale hz")
	tick()
	expect("second timer while still silent")
	ping("203.0.113.8")
	expect("ping after the silence", "site_back hz", "address_changed hz")
	now = now.Add(10 * time.Minute)
	tick()
	expect("silent again", "site_stale hz")
}

// TestVanishedNotified: a VPN target that was applied and whose connection is gone is sent
// as target_vanished, not target_failed; another error stays target_failed.
func TestVanishedNotified(t *testing.T) {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m["kind"].(string)+" "+m["target"].(string))
		mu.Unlock()
	}))
	defer recv.Close()
	n, err := notify.New([]notify.Webhook{{Kind: "json", URL: recv.URL}}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(testConfig), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := &cloudTargets{cfg: cfg, store: store.NewMemory(StoreOptions(cfg)), notifier: n, now: time.Now}
	ip := netip.MustParseAddr("203.0.113.7")
	applied := cloud.TargetState{State: wire.StateApplied, AppliedIP: ip, DesiredIP: ip}
	ct.record(context.Background(), "hz", "", []cloud.Result{
		{Kind: wire.KindVPN, Name: "to-hz", State: wire.StateError, IP: ip, Err: fmt.Errorf("vpn to-hz: %w", cloud.ErrVanished)},
		{Kind: wire.KindVPN, Name: "to-bj", State: wire.StateError, IP: ip, Err: errors.New("other")},
	}, map[string]cloud.TargetState{"to-hz": applied, "to-bj": applied})
	n.Wait(context.Background())
	slices.Sort(got)
	if want := []string{"target_failed to-bj", "target_vanished to-hz"}; !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}
