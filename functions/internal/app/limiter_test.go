package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/wire"
)

// TestLimiterWindowAndDynDNSKey drives the limiter on a manual clock: a site's dyndns_key
// and its key are separate credentials (failing with one never limits the other), the
// limit lifts when auth.failure_window has passed, and a limited request writes nothing.
func TestLimiterWindowAndDynDNSKey(t *testing.T) {
	const (
		keyHZ  = "hz-secret-0123456789abcdef"
		ddnsHZ = "hz-ddns-key-0123456789abcdef"
	)
	cfg, err := config.Parse([]byte(`
redis: { url: "memory://" }
auth: { max_failures: 3, failure_window: 1m }
sites:
  hz: { key: "`+keyHZ+`", basic: true, dyndns_key: "`+ddnsHZ+`" }
  bj: { key: "bj-secret-0123456789abcdef" }
`), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opt := StoreOptions(cfg)
	opt.Now = clock
	st := store.NewMemory(opt)
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), clock, api.Options{})
	// do sends Basic hz:pass; a /nic/update request names hostname=hz.
	do := func(method, path, pass string) (int, string) {
		t.Helper()
		authz := "Basic " + base64.StdEncoding.EncodeToString([]byte("hz:"+pass))
		var ev map[string]any
		_ = json.Unmarshal(event(method, path, authz, "", false, "2001:db8:5:6::1"), &ev)
		if path == wire.PathDynDNS2 {
			ev["queryParameters"] = map[string]string{"hostname": "hz"}
		}
		raw, _ := json.Marshal(ev)
		out, err := a.Handle(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		return answer(t, out)
	}
	fleet := func() string {
		recs, ver, _ := st.Fleet(context.Background())
		b, _ := json.Marshal(recs)
		return fmt.Sprint(string(b), ver)
	}
	for range 3 {
		if code, body := do("GET", wire.PathDynDNS2, "guess-guess-guess"); code != 401 || body != "badauth\n" {
			t.Fatalf("wrong dyndns_key: %d %q", code, body)
		}
	}
	before := fleet()
	if code, body := do("GET", wire.PathDynDNS2, ddnsHZ); code != 200 || body != "abuse\n" {
		t.Fatalf("right dyndns_key once limited: %d %q, want abuse", code, body)
	}
	if fleet() != before {
		t.Fatal("a limited /nic/update wrote")
	}
	// The site key over Basic on /v1/ping is another credential.
	if code, body := do("POST", wire.PathPing, keyHZ); code != 200 {
		t.Fatalf("hz key after dyndns_key failures: %d %s", code, body)
	}
	// The limit lifts with the window.
	now = now.Add(time.Minute)
	if code, body := do("GET", wire.PathDynDNS2, ddnsHZ); code != 200 || body != "nochg 2001:db8:5:6::1\n" {
		t.Fatalf("after the window: %d %q", code, body)
	}
}
