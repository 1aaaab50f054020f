package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/fcemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// testStateKey is the state key the function runs with in these tests (PPTER_STATE_KEY).
const testStateKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

const (
	keyHZ = "hz-secret-0123456789abcdef"
	keyBJ = "bj-secret-0123456789abcdef"
)

// syncBuffer collects the function's log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type fixture struct {
	emu    *fcemu.Emulator
	prefix string
	logs   *syncBuffer
}

// start runs the real function binary under the emulator against a real redis-server.
func start(t *testing.T, extraYAML string) *fixture {
	t.Helper()
	prefix := redistest.Namespace()
	cfg := fmt.Sprintf(`
redis: { url: %q, prefix: %q }
auth: { max_failures: 5, failure_window: 1m }
sites:
  hz: { key: "${PPTER_KEY_HZ}", basic: true }
  bj: { key: "${PPTER_KEY_BJ}", basic: true }
  sh: { key: "sh-secret-0123456789abcdef", peers: [hz] }
%s`, redistest.URL(t), prefix, extraYAML)
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	emu := fcemu.StartT(t, fcemu.Options{
		Env:               []string{"PPTER_CONFIG=" + path, "PPTER_KEY_HZ=" + keyHZ, "PPTER_KEY_BJ=" + keyBJ},
		TrustSourceHeader: true,
		Stdout:            logs,
	})
	return &fixture{emu: emu, prefix: prefix, logs: logs}
}

type req struct {
	method, path, auth, source string
	body                       []byte
}

func (f *fixture) do(t *testing.T, r req) (int, []byte, http.Header) {
	t.Helper()
	hr, err := http.NewRequest(r.method, f.emu.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	if r.source != "" {
		hr.Header.Set(fcemu.SourceHeader, r.source)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func signed(s site.Name, key string, ts int64, nonce string, body []byte) string {
	return auth.Header(s, []byte(key), http.MethodPost, wire.PathPing, ts, nonce, body)
}

func (f *fixture) ping(t *testing.T, s site.Name, key, source string) wire.PingResponse {
	t.Helper()
	body := []byte(`{"agent":"e2e"}`)
	code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: source, body: body,
		auth: signed(s, key, time.Now().Unix(), auth.NewNonce(), body)})
	if code != http.StatusOK {
		t.Fatalf("ping %s: %d %s", s, code, b)
	}
	var pr wire.PingResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// state is everything the function keeps in Redis under the test's prefix, except the
// failure counters (which a rejected request is meant to bump).
func (f *fixture) state(t *testing.T) string {
	t.Helper()
	c := redistest.Client(t)
	ctx := context.Background()
	keys, err := c.Keys(ctx, f.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if strings.Contains(k, ":fail:") {
			continue
		}
		switch c.Type(ctx, k).Val() {
		case "hash":
			out = append(out, fmt.Sprint(k, c.HGetAll(ctx, k).Val()))
		case "stream":
			out = append(out, fmt.Sprint(k, len(c.XRange(ctx, k, "-", "+").Val())))
		default:
			out = append(out, fmt.Sprint(k, c.Get(ctx, k).Val()))
		}
	}
	slicesSort(out)
	return strings.Join(out, "\n")
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestTwoSitesSeeEachOther(t *testing.T) {
	f := start(t, "")
	hz := f.ping(t, "hz", keyHZ, "203.0.113.7")
	if !hz.Changed || wire.AddrString(hz.IP) != "203.0.113.7" || hz.Family != wire.IPv4 || hz.FleetVersion != 1 {
		t.Fatalf("first hz ping = %+v", hz)
	}
	if len(hz.Peers) != 2 || hz.Peers[0].Site != "bj" || wire.AddrString(hz.Peers[0].IPv4) != "" || !hz.Peers[0].Stale {
		t.Fatalf("hz peers before bj pinged = %+v", hz.Peers)
	}
	bj := f.ping(t, "bj", keyBJ, "198.51.100.9")
	if p := bj.Peers[0]; p.Site != "hz" || wire.AddrString(p.IPv4) != "203.0.113.7" || p.Stale {
		t.Fatalf("bj sees hz as %+v", p)
	}
	hz = f.ping(t, "hz", keyHZ, "203.0.113.7")
	if hz.Changed || wire.AddrString(hz.PreviousIP) != "203.0.113.7" || wire.AddrString(hz.Peers[0].IPv4) != "198.51.100.9" || hz.FleetVersion != 2 {
		t.Fatalf("second hz ping = %+v", hz)
	}
	if hz.Targets == nil {
		t.Fatal("targets must be a list, not null")
	}
	// IPv6 is kept apart from IPv4.
	v6 := f.ping(t, "hz", keyHZ, "2001:db8::7")
	if !v6.Changed || v6.Family != wire.IPv6 || wire.AddrString(v6.PreviousIP) != "" {
		t.Fatalf("v6 ping = %+v", v6)
	}
	bj = f.ping(t, "bj", keyBJ, "198.51.100.9")
	if p := bj.Peers[0]; wire.AddrString(p.IPv4) != "203.0.113.7" || wire.AddrString(p.IPv6) != "2001:db8::7" {
		t.Fatalf("bj sees hz as %+v", p)
	}
	// sh only sees its configured peer.
	if sh := f.ping(t, "sh", "sh-secret-0123456789abcdef", "192.0.2.1"); len(sh.Peers) != 1 || sh.Peers[0].Site != "hz" {
		t.Fatalf("sh peers = %+v", sh.Peers)
	}
	// X-Forwarded-For is never trusted.
	body := []byte(`{}`)
	hr, _ := http.NewRequest("POST", f.emu.URL+wire.PathPing, bytes.NewReader(body))
	hr.Header.Set("Authorization", signed("bj", keyBJ, time.Now().Unix(), auth.NewNonce(), body))
	hr.Header.Set("X-Forwarded-For", "192.0.2.99")
	hr.Header.Set("X-Real-Ip", "192.0.2.99")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	var pr wire.PingResponse
	json.NewDecoder(resp.Body).Decode(&pr)
	resp.Body.Close()
	if wire.AddrString(pr.IP) != "127.0.0.1" {
		t.Fatalf("recorded %q, want the TCP peer 127.0.0.1", pr.IP)
	}
	// One log line per invocation, JSON, no secrets.
	logs := f.logs.String()
	for _, secret := range []string{keyHZ, keyBJ, "sig="} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log leaks %q", secret)
		}
	}
	n := 0
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		if strings.HasPrefix(line, "FC Invoke ") {
			continue // the runtime SDK's own markers, as in Function Compute
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["msg"] == "request" {
			n++
			for _, k := range []string{"request_id", "route", "site", "source", "outcome", "latency_ms", "status"} {
				if _, ok := m[k]; !ok {
					t.Errorf("log line lacks %s: %s", k, line)
				}
			}
		}
	}
	if n != 7 {
		t.Fatalf("%d request log lines, want 7 (one per invocation)", n)
	}
}

func TestReplayIsRefusedAndWritesNothing(t *testing.T) {
	f := start(t, "")
	body := []byte(`{}`)
	r := req{method: "POST", path: wire.PathPing, source: "203.0.113.7", body: body,
		auth: signed("hz", keyHZ, time.Now().Unix(), auth.NewNonce(), body)}
	if code, b, _ := f.do(t, r); code != http.StatusOK {
		t.Fatalf("first: %d %s", code, b)
	}
	before := f.state(t)
	r.source = "198.51.100.66" // an attacker replaying the capture from elsewhere
	code, b, _ := f.do(t, r)
	if code != http.StatusConflict || !strings.Contains(string(b), `"code":"replayed_nonce"`) {
		t.Fatalf("replay: %d %s, want 409 replayed_nonce", code, b)
	}
	if after := f.state(t); after != before {
		t.Fatalf("replay changed state:\nbefore %s\nafter  %s", before, after)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	f := start(t, "")
	f.ping(t, "hz", keyHZ, "203.0.113.7")
	now := time.Now().Unix()
	body := []byte(`{}`)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	usedNonce := auth.NewNonce()
	if code, b, _ := f.do(t, req{method: "POST", path: wire.PathPing, source: "203.0.113.8", body: body, auth: signed("hz", keyHZ, now, usedNonce, body)}); code != 200 {
		t.Fatalf("setup ping: %d %s", code, b)
	}
	big := bytes.Repeat([]byte(" "), wire.MaxBodyBytes+1)
	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"missing authorization", req{method: "POST", body: body}, 401, "unauthorized"},
		{"garbled authorization", req{method: "POST", body: body, auth: "PPTER-HMAC-SHA256 garbage"}, 401, "unauthorized"},
		{"other scheme", req{method: "POST", body: body, auth: "Bearer abc"}, 401, "unauthorized"},
		{"unknown site", req{method: "POST", body: body, auth: signed("gz", keyHZ, now, auth.NewNonce(), body)}, 401, "unauthorized"},
		{"wrong secret", req{method: "POST", body: body, auth: signed("hz", keyBJ, now, auth.NewNonce(), body)}, 401, "unauthorized"},
		{"signature of another body", req{method: "POST", body: []byte(`{"agent":"x"}`), auth: signed("hz", keyHZ, now, auth.NewNonce(), body)}, 401, "unauthorized"},
		{"basic wrong secret", req{method: "POST", body: body, auth: basic("hz", "nope")}, 401, "unauthorized"},
		{"basic unknown site", req{method: "POST", body: body, auth: basic("gz", keyHZ)}, 401, "unauthorized"},
		{"timestamp too old", req{method: "POST", body: body, auth: signed("hz", keyHZ, now-360, auth.NewNonce(), body)}, 401, "stale_timestamp"},
		{"timestamp in the future", req{method: "POST", body: body, auth: signed("hz", keyHZ, now+360, auth.NewNonce(), body)}, 401, "stale_timestamp"},
		{"replayed nonce", req{method: "POST", body: body, auth: signed("hz", keyHZ, now, usedNonce, body)}, 409, "replayed_nonce"},
		{"malformed json", req{method: "POST", body: []byte(`{"agent":`), auth: signed("hz", keyHZ, now, auth.NewNonce(), []byte(`{"agent":`))}, 400, "bad_json"},
		{"json array", req{method: "POST", body: []byte(`[1]`), auth: signed("hz", keyHZ, now, auth.NewNonce(), []byte(`[1]`))}, 400, "bad_json"},
		{"json string", req{method: "POST", body: []byte(`"hi"`), auth: signed("hz", keyHZ, now, auth.NewNonce(), []byte(`"hi"`))}, 400, "bad_json"},
		{"two json values", req{method: "POST", body: []byte(`{}{}`), auth: signed("hz", keyHZ, now, auth.NewNonce(), []byte(`{}{}`))}, 400, "bad_json"},
		{"wrong field type", req{method: "POST", body: []byte(`{"agent":5}`), auth: signed("hz", keyHZ, now, auth.NewNonce(), []byte(`{"agent":5}`))}, 400, "bad_json"},
		{"body over 8 KiB", req{method: "POST", body: big, auth: signed("hz", keyHZ, now, auth.NewNonce(), big)}, 413, "body_too_large"},
		{"wrong method", req{method: "GET", auth: signed("hz", keyHZ, now, auth.NewNonce(), nil)}, 405, "method_not_allowed"},
		{"unknown path", req{method: "POST", path: "/v1/pong", body: body, auth: signed("hz", keyHZ, now, auth.NewNonce(), body)}, 404, "not_found"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.path == "" {
				tt.r.path = wire.PathPing
			}
			tt.r.source = "192.0.2." + strconv.Itoa(10+i) // own source: failures don't add up across cases
			before := f.state(t)
			code, b, _ := f.do(t, tt.r)
			var er wire.ErrorResponse
			if err := json.Unmarshal(b, &er); err != nil {
				t.Fatalf("body %s is not a JSON error", b)
			}
			if code != tt.status || er.Error.Code != tt.code || er.Error.Message == "" {
				t.Fatalf("got %d %s, want %d %s", code, b, tt.status, tt.code)
			}
			if strings.Contains(string(b), keyHZ) || strings.Contains(string(b), keyBJ) {
				t.Fatalf("error leaks a secret: %s", b)
			}
			if after := f.state(t); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestRepeatedFailuresAreSlowed: failed signatures from one address end in 429, but a valid
// signature from that address is never limited (it proves the secret; an office behind a
// shared CGNAT address must not be locked out by its neighbours' junk).
func TestRepeatedFailuresAreSlowed(t *testing.T) {
	f := start(t, "") // max_failures: 5
	body := []byte(`{}`)
	src := "192.0.2.200"
	for i := 1; i <= 6; i++ {
		code, b, h := f.do(t, req{method: "POST", path: wire.PathPing, source: src, body: body, auth: signed("hz", "guess-"+strconv.Itoa(i)+"-0123456789", time.Now().Unix(), auth.NewNonce(), body)})
		want := 401
		if i > 5 {
			want = 429
		}
		if code != want {
			t.Fatalf("attempt %d: %d %s, want %d", i, code, b, want)
		}
		if code == 429 && (h.Get("Retry-After") != "60" || !strings.Contains(string(b), `"too_many_failures"`)) {
			t.Fatalf("429 answer: Retry-After %q, %s", h.Get("Retry-After"), b)
		}
	}
	if p := f.ping(t, "hz", keyHZ, src); p.IP.String() != src || !p.Changed {
		t.Fatalf("signed ping from the limited address = %+v", p)
	}
}

func TestHealthAndBasic(t *testing.T) {
	f := start(t, "")
	code, b, _ := f.do(t, req{method: "GET", path: wire.PathHealth})
	if code != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Fatalf("healthz: %d %s", code, b)
	}
	if code, _, _ := f.do(t, req{method: "POST", path: wire.PathHealth}); code != 405 {
		t.Fatalf("POST healthz: %d, want 405", code)
	}
	// curl -u hz:secret -X POST …/v1/ping, with no body.
	hr, _ := http.NewRequest("POST", f.emu.URL+wire.PathPing, nil)
	hr.SetBasicAuth("hz", keyHZ)
	hr.Header.Set(fcemu.SourceHeader, "203.0.113.50")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr wire.PingResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || resp.StatusCode != 200 || wire.AddrString(pr.IP) != "203.0.113.50" {
		t.Fatalf("basic ping: %d %+v %v", resp.StatusCode, pr, err)
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name, yaml, want string
		env              []string
	}{
		{"unknown key", "redis: {url: 'memory://'}\nsites: {hz: {key: 0123456789abcdefgh}}\nbogus: 1\n", "field bogus not found", nil},
		{"memory inside FC", "redis: {url: 'memory://'}\nsites: {hz: {key: 0123456789abcdefgh}}\n", "refuses to start inside Function Compute", []string{"FC_FUNCTION_NAME=ppter"}},
		{"missing env", "redis: {url: 'memory://'}\nsites: {hz: {key: '${NOPE}'}}\n", "sites.hz.key: environment variable NOPE is not set", nil},
		{"two sites one key", "redis: {url: 'memory://'}\nsites: {hz: {key: 0123456789abcdefgh}, bj: {key: 0123456789abcdefgh}}\n", "sites.hz.key: the same secret as sites.bj.key", nil},
		{"admin token is a site key", "redis: {url: 'memory://'}\nadmin: {token: 0123456789abcdefgh}\nsites: {hz: {key: 0123456789abcdefgh}}\n", "admin.token: the same secret as sites.hz.key", nil},
		{"vpn targets without a state key", "redis: {url: 'memory://'}\naliyun: {region: cn-hangzhou}\nsites: {hz: {key: 0123456789abcdefgh, vpn: [{gateway: vpn-1, connection: to-hz}]}}\n", "set PPTER_STATE_KEY", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ppter.yaml")
			os.WriteFile(path, []byte(tt.yaml), 0o600)
			var stderr syncBuffer
			emu := fcemu.StartT(t, fcemu.Options{Env: append([]string{"PPTER_CONFIG=" + path}, tt.env...), Stderr: &stderr})
			if !emu.WaitExit(20 * time.Second) {
				t.Fatal("function kept running with a bad config")
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
