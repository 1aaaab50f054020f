package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// TestTickLines: the timer counts sites, not lines; reports a silent line as SITE/LINE and
// notifies it with its line; and after lines: is reordered leaves alone the record of the
// slot no line uses any more, however old it is.
func TestTickLines(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	const yaml = `
redis: { url: "memory://" }
ping: { interval: 1m }
sites:
  hz: { key: "hz-secret-0123456789abcdef" }
  gz: { key: "gz-secret-0123456789abcdef", lines: [LINES] }
`
	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	n, err := notify.New([]notify.Webhook{{Kind: notify.JSON, URL: hook.URL, Events: []string{"site_stale"}}}, notify.Options{Client: hook.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s, mem, _, clock := newGoldenServer(t, strings.Replace(yaml, "LINES", "telecom, unicom", 1), nil, &now)
	serve := func(cfg *config.Config) *Server { return New(cfg, mem, Options{Now: clock, Notifier: n}) }
	s = serve(s.cfg)
	nonce := 0
	ping := func(name site.Name, body, source string) {
		t.Helper()
		nonce++
		h := &fcevent.HTTP{RequestID: "req", Method: "POST", Path: wire.PathPing, Query: url.Values{}, Header: http.Header{}, Body: []byte(body), Source: netip.MustParseAddr(source)}
		h.Header.Set("Authorization", auth.Header(name, []byte(string(name)+"-secret-0123456789abcdef"), "POST", wire.PathPing, now.Unix(), auth.NewNonce(), []byte(body)))
		if r, _ := s.Serve(ctx, h, nil); r.Status != 200 {
			t.Fatalf("ping %s %s: %d %s", name, body, r.Status, r.Body)
		}
	}
	tick := func() TickReport {
		t.Helper()
		rep, err := s.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n.Wait(ctx)
		return rep
	}

	ping("hz", `{}`, "192.0.2.1")
	ping("gz", `{"line":"telecom"}`, "198.51.100.20")
	ping("gz", `{"line":"unicom"}`, "203.0.113.30")
	now = now.Add(10 * time.Minute) // past stale_after (3 min): unicom falls silent
	ping("hz", `{}`, "192.0.2.1")
	ping("gz", `{"line":"telecom"}`, "198.51.100.20")
	rep := tick()
	if rep.Sites != 2 || !slices.Equal(rep.Stale, []string{"gz/unicom"}) {
		t.Fatalf("tick: sites %d, stale %q; want 2 sites, gz/unicom stale", rep.Sites, rep.Stale)
	}
	if len(hooks) != 1 || !strings.Contains(hooks[0], `"kind":"site_stale"`) || !strings.Contains(hooks[0], `"line":"unicom"`) {
		t.Fatalf("notifications: %q, want one site_stale of line unicom", hooks)
	}

	// unicom becomes the default line (its pings now go to the site's own slot); the slot
	// gz/unicom is used by no line, and its record, however old, is not a stale line.
	cfg, err := config.Parse([]byte(strings.Replace(yaml, "LINES", "unicom, telecom", 1)), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	s = serve(cfg)
	now = now.Add(10 * time.Minute)
	ping("hz", `{}`, "192.0.2.1")
	ping("gz", `{"line":"unicom"}`, "203.0.113.30")
	ping("gz", `{"line":"telecom"}`, "198.51.100.20")
	if rep := tick(); rep.Sites != 2 || len(rep.Stale) != 0 {
		t.Fatalf("tick after the reorder, every line pinging: sites %d, stale %q; want 2, none", rep.Sites, rep.Stale)
	}
}
