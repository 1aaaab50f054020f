package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// reconciles records the ping's reconciles; it expects no other call (the nil api.Cloud
// panics).
type reconciles struct {
	api.Cloud
	mu    sync.Mutex
	calls []string
}

func (r *reconciles) Reconcile(_ context.Context, s site.Name, _ site.Line, v4, _ netip.Addr) []wire.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, string(s)+" "+v4.String())
	return []wire.Target{{Kind: wire.KindDNS, Name: string(s) + ".vpn.example.com/A", State: wire.StateApplied, IP: v4}}
}

func (r *reconciles) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// TestSlowRedisLosesNoChange runs the handler on a real redis-server behind a proxy that
// withholds the ping script's replies past the client's read timeout. A ping whose first
// reply is lost is answered 200 with its change carried out (not 409); a ping whose every
// reply is lost gets 503, and its recorded change is carried out by the next ping — the
// reconcile and the notification follow the state, not one answer.
func TestSlowRedisLosesNoChange(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		str := func(k string) string { v, _ := m[k].(string); return v }
		mu.Lock()
		sent = append(sent, str("kind")+" "+str("previous_ip")+" → "+str("ip"))
		mu.Unlock()
	}))
	defer hook.Close()
	notified := func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := sent
		sent = nil
		return s
	}
	cfg, err := config.Parse([]byte(testConfig+"notify: [ { kind: json, url: \""+hook.URL+"\", events: [address_changed] } ]\n"),
		func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewProxy(t)
	opt := StoreOptions(cfg)
	opt.Prefix, opt.Timeout = redistest.Namespace(), 300*time.Millisecond
	st, err := store.NewRedis(context.Background(), proxy.URL, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := notify.New(cfg.Notify, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &reconciles{}
	now := time.Now()
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), func() time.Time { return now }, api.Options{Cloud: rec, Notifier: n})
	ping := func(s site.Name, key, ip string) (int, string) {
		t.Helper()
		h := auth.Header(s, []byte(key), "POST", wire.PathPing, now.Unix(), auth.NewNonce(), nil)
		out, err := a.Handle(context.Background(), event("POST", wire.PathPing, h, "", false, ip))
		if err != nil {
			t.Fatal(err)
		}
		return answer(t, out)
	}
	const keyHZ = "hz-secret-0123456789abcdef"
	if code, body := ping("bj", "bj-secret-0123456789abcdef", "198.51.100.9"); code != 200 { // loads the script
		t.Fatalf("bj: %d %s", code, body)
	}
	rec.take()
	notified()
	marker := "\r\nhz\r\n" // the site argument of hz's ping script, in RESP
	// handled checks that the last ping reconciled ip once and notified the change once.
	handled := func(step, ip, change string) {
		t.Helper()
		if got := rec.take(); len(got) != 1 || got[0] != "hz "+ip {
			t.Fatalf("%s: reconciles %v, want one for hz %s", step, got, ip)
		}
		if got := notified(); len(got) != 1 || got[0] != "address_changed "+change {
			t.Fatalf("%s: notifications %v, want address_changed %s", step, got, change)
		}
	}

	// The first reply is lost; go-redis retries; the script recognises its own run.
	proxy.Withhold(marker, 1)
	code, body := ping("hz", keyHZ, "203.0.113.7")
	if code != 200 || !strings.Contains(body, `"changed":true`) || !strings.Contains(body, `"state":"applied"`) {
		t.Fatalf("ping with a lost reply: %d %s, want 200 with the change reconciled", code, body)
	}
	handled("lost reply", "203.0.113.7", " → 203.0.113.7")

	// Every reply is lost: 503, but the script ran and recorded the new address.
	proxy.Withhold(marker, 2)
	if code, body := ping("hz", keyHZ, "203.0.113.8"); code != 503 || !strings.Contains(body, `"store_unavailable"`) {
		t.Fatalf("ping with every reply lost: %d %s, want 503", code, body)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("reconciles %v after a failed ping", got)
	}
	// The pinger's next ping finds the address recorded, not yet handled: it carries it out.
	code, body = ping("hz", keyHZ, "203.0.113.8")
	if code != 200 || !strings.Contains(body, `"changed":false`) || !strings.Contains(body, `"state":"applied"`) {
		t.Fatalf("next ping: %d %s, want 200 reconciling the change the lost answer left", code, body)
	}
	handled("next ping", "203.0.113.8", "203.0.113.7 → 203.0.113.8")
	// Then it is handled: a steady ping costs nothing more.
	if code, body := ping("hz", keyHZ, "203.0.113.8"); code != 200 || strings.Contains(body, `"state"`) {
		t.Fatalf("steady ping: %d %s", code, body)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("steady ping reconciled: %v", got)
	}
}
