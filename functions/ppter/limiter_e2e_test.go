package main_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ppter/ppter/shared/wire"
)

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// hooks collects the JSON webhooks the function sends.
type hooks struct {
	mu  sync.Mutex
	got []map[string]any
}

func newHooks(t *testing.T) (*hooks, string) {
	h := &hooks{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %s", b)
		}
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hooks) take() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.got
	h.got = nil
	return g
}

// TestLimiterHasNoOracle proves the failure limiter refuses a limited source before any
// Basic or admin secret is checked: once limited, the right secret and a wrong one get the
// same answer on every endpoint, and nothing is recorded.
func TestLimiterHasNoOracle(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	f := start(t, "admin: { token: \""+token+"\" }\n")
	limit := func(src string, r req) {
		t.Helper()
		for i := 1; i <= 5; i++ {
			r.source = src
			if code, b, _ := f.do(t, r); code != 401 {
				t.Fatalf("failure %d from %s: %d %s, want 401", i, src, code, b)
			}
		}
	}
	limit("192.0.2.61", req{method: "POST", path: wire.PathPing, auth: basicAuth("hz", "guess-guess-guess")})
	limit("192.0.2.62", req{method: "GET", path: "/v1/status", auth: "Bearer wrong-token-0123456789"})
	limit("192.0.2.63", req{method: "GET", path: "/nic/update?hostname=hz", auth: basicAuth("hz", "guess-guess-guess")})
	tests := []struct {
		name         string
		r            req
		status       int
		code, answer string // the JSON error code, or the dyndns2 answer
	}{
		{"ping: right Basic", req{method: "POST", path: wire.PathPing, source: "192.0.2.61", auth: basicAuth("hz", keyHZ)}, 429, "too_many_failures", ""},
		{"ping: wrong Basic", req{method: "POST", path: wire.PathPing, source: "192.0.2.61", auth: basicAuth("hz", "guess-again-guess")}, 429, "too_many_failures", ""},
		{"ping: right Basic, bad body", req{method: "POST", path: wire.PathPing, source: "192.0.2.61", auth: basicAuth("hz", keyHZ), body: []byte(`[`)}, 429, "too_many_failures", ""},
		{"ping: wrong Basic, bad body", req{method: "POST", path: wire.PathPing, source: "192.0.2.61", auth: basicAuth("hz", "guess-again-guess"), body: []byte(`[`)}, 429, "too_many_failures", ""},
		{"status: right token", req{method: "GET", path: "/v1/status", source: "192.0.2.62", auth: "Bearer " + token}, 429, "too_many_failures", ""},
		{"status: right token as Basic", req{method: "GET", path: "/v1/status", source: "192.0.2.62", auth: basicAuth("admin", token)}, 429, "too_many_failures", ""},
		{"status: wrong token", req{method: "GET", path: "/v1/status", source: "192.0.2.62", auth: "Bearer wrong-again-0123456789"}, 429, "too_many_failures", ""},
		{"nic/update: right key", req{method: "GET", path: "/nic/update?hostname=hz", source: "192.0.2.63", auth: basicAuth("hz", keyHZ)}, 200, "", "abuse\n"},
		{"nic/update: right key, no hostname", req{method: "GET", path: "/nic/update", source: "192.0.2.63", auth: basicAuth("hz", keyHZ)}, 200, "", "abuse\n"},
		{"nic/update: wrong key, no hostname", req{method: "GET", path: "/nic/update", source: "192.0.2.63", auth: basicAuth("hz", "guess-again-guess")}, 200, "", "abuse\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state(t)
			code, b, h := f.do(t, tt.r)
			if tt.answer != "" {
				if code != tt.status || string(b) != tt.answer {
					t.Fatalf("got %d %q, want %d %q", code, b, tt.status, tt.answer)
				}
			} else {
				var er wire.ErrorResponse
				if err := json.Unmarshal(b, &er); err != nil || code != tt.status || er.Error.Code != tt.code || !strings.Contains(er.Error.Message, "too many failed attempts") || h.Get("Retry-After") != "60" {
					t.Fatalf("got %d %s (Retry-After %q), want %d %s", code, b, h.Get("Retry-After"), tt.status, tt.code)
				}
			}
			if strings.Contains(string(b), keyHZ) || strings.Contains(string(b), token) || strings.Contains(string(b), "203.0.113") {
				t.Fatalf("answer leaks a secret or fleet data: %s", b)
			}
			if after := f.state(t); after != before {
				t.Fatalf("a limited request wrote:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	for _, secret := range []string{keyHZ, token} {
		if strings.Contains(f.logs.String(), secret) {
			t.Fatal("the function logged a secret")
		}
	}
}

// TestLimiterNeverLocksOutAnotherCredential: failures are counted per credential and
// source — Basic per (site, source), the admin token apart, IPv6 per /64 — so failing
// against one credential never limits another, and a burst raises one auth_limited
// notification per credential.
func TestLimiterNeverLocksOutAnotherCredential(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	h, url := newHooks(t)
	f := start(t, "admin: { token: \""+token+"\" }\nnotify: [ { kind: json, url: \""+url+"\", events: [auth_limited] } ]\n")
	fail := func(r req, n int) (int, []byte) {
		t.Helper()
		var code int
		var b []byte
		for range n {
			code, b, _ = f.do(t, r)
		}
		return code, b
	}
	// A neighbour behind the office's CGNAT address guesses hz's Basic key.
	const shared = "192.0.2.70"
	if code, b := fail(req{method: "POST", path: wire.PathPing, source: shared, auth: basicAuth("hz", "guess-guess-guess")}, 6); code != 429 {
		t.Fatalf("6th wrong Basic: %d %s, want 429", code, b)
	}
	// The office's signed pinger, bj's Basic and the admin token from that address still work.
	if p := f.ping(t, "hz", keyHZ, shared); p.IP.String() != shared {
		t.Fatalf("signed hz ping = %+v", p)
	}
	if code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: shared, auth: basicAuth("bj", keyBJ)}); code != 200 {
		t.Fatalf("bj Basic from the same address: %d %s, want 200", code, b)
	}
	if code, b, _ := f.do(t, req{method: "GET", path: "/v1/status", source: shared, auth: "Bearer " + token}); code != 200 {
		t.Fatalf("admin from the same address: %d %.200s, want 200", code, b)
	}
	// hz's Basic from another address is not limited either.
	if code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: "192.0.2.71", auth: basicAuth("hz", keyHZ)}); code != 200 {
		t.Fatalf("hz Basic from another address: %d %s, want 200", code, b)
	}
	// Admin failures count apart: they never limit a site's Basic from that address.
	if code, b := fail(req{method: "GET", path: "/v1/status", source: "192.0.2.72", auth: "Bearer wrong-token-0123456789"}, 6); code != 429 {
		t.Fatalf("6th wrong token: %d %s, want 429", code, b)
	}
	if code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: "192.0.2.72", auth: basicAuth("hz", keyHZ)}); code != 200 {
		t.Fatalf("hz Basic after admin failures: %d %s, want 200", code, b)
	}
	// IPv6 sources are counted per /64: five addresses of one line are one source.
	for i := 1; i <= 5; i++ {
		r := req{method: "POST", path: wire.PathPing, source: "2001:db8:1:2::" + strconv.Itoa(i), auth: basicAuth("bj", "guess-guess-guess")}
		if code, b, _ := f.do(t, r); code != 401 {
			t.Fatalf("v6 failure %d: %d %s", i, code, b)
		}
	}
	if code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: "2001:db8:1:2:ffff::9", auth: basicAuth("bj", keyBJ)}); code != 429 {
		t.Fatalf("bj Basic from another address of the same /64: %d %s, want 429", code, b)
	}
	if code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: "2001:db8:1:3::1", auth: basicAuth("bj", keyBJ)}); code != 200 {
		t.Fatalf("bj Basic from the next /64: %d %s, want 200", code, b)
	}
	// One notification per credential that reached its limit, naming no secret. The
	// function waits for its webhooks before it answers, so they are all in by now.
	got := h.take()
	want := map[string]string{"site hz key": "192.0.2.70/32", "admin token": "192.0.2.72/32", "site bj key": "2001:db8:1:2::/64"}
	if len(got) != 3 {
		t.Fatalf("notifications %v, want 3", got)
	}
	for _, m := range got {
		if m["kind"] != "auth_limited" || want[m["credential"].(string)] != m["source"] || m["failures"] != float64(5) {
			t.Errorf("notification %v", m)
		}
		if b, _ := json.Marshal(m); strings.Contains(string(b), keyHZ) || strings.Contains(string(b), "guess-guess") || strings.Contains(string(b), token) {
			t.Errorf("notification leaks a secret: %s", b)
		}
	}
}
