package api

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/statuspage"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

var update = flag.Bool("update", false, "rewrite the golden answers under testdata/golden")

const goldenConfig = `
redis: { url: "memory://" }
auth: { max_failures: 2 }
admin: { token: "admin-token-0123456789abcdef" }
sites:
  hz: { key: "hz-secret-0123456789abcdef", basic: true, dyndns_key: "hz-ddns-key-0123456789abcdef" }
  bj: { key: "bj-secret-0123456789abcdef" }
  sh: { key: "sh-secret-0123456789abcdef" }
`

// goldenCloud answers every reconcile with one target of each kind and state, and lists
// two targets; the timers' calls, which no request makes, it refuses.
type goldenCloud struct{}

func (goldenCloud) ReconcileAll(context.Context, []store.Record) map[string][]wire.Target {
	panic("ReconcileAll called by a request")
}

func (goldenCloud) Resume(context.Context, func(context.Context) ([]store.Record, error)) (map[string][]wire.Target, error) {
	panic("Resume called by a request")
}

func (goldenCloud) Reconcile(_ context.Context, s site.Name, l site.Line, v4, _ netip.Addr) []wire.Target {
	if l != "" {
		return []wire.Target{{Kind: wire.KindDNS, Name: string(s) + "-" + string(l) + ".example.com A", State: wire.StateApplied, IP: v4}}
	}
	return []wire.Target{
		{Kind: wire.KindDNS, Name: string(s) + ".example.com A", State: wire.StateApplied, IP: v4},
		{Kind: wire.KindVPN, Name: "vco-" + string(s), State: wire.StateError, Error: "the gateway is busy"},
	}
}

func (goldenCloud) Targets(context.Context) ([]statuspage.Target, error) {
	return []statuspage.Target{
		{Site: "hz", Kind: wire.KindDNS, Name: "hz.example.com A", State: wire.StateApplied, IP: netip.MustParseAddr("203.0.113.7"), UpdatedAt: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{Site: "bj", Kind: wire.KindVPN, Name: "vco-bj", State: wire.StatePending},
	}, nil
}

// brokenStore fails every call with err.
type brokenStore struct {
	*store.Memory
	err error
}

func (b brokenStore) Ping(context.Context, store.PingInput) (store.PingResult, error) {
	return store.PingResult{}, b.err
}

func (b brokenStore) Fleet(context.Context) ([]store.Record, int64, error) { return nil, 0, b.err }

// golden compares r, written out as status line, sorted headers and body, with the file
// testdata/golden/name (rewritten with -update), after the outcome it logs.
func golden(t *testing.T, name string, r fcevent.Response, out Outcome) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "outcome: %+v\nHTTP %d\n", out, r.Status)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, r.Header[k])
	}
	b.WriteString("\n")
	b.Write(r.Body)
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, b.String(), want)
	}
}

// newGoldenServer is the API on config yaml and a memory store, its clock reading *now.
func newGoldenServer(t *testing.T, yaml string, cloud Cloud, now *time.Time) (*Server, *store.Memory, *config.Config, func() time.Time) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return *now }
	mem := store.NewMemory(store.Options{Prefix: cfg.Redis.Prefix, EventsMax: cfg.Events.Max, FailureWindow: cfg.Auth.FailureWindow,
		HandleLease: time.Minute, Timeout: time.Second, Now: clock})
	return New(cfg, mem, Options{Cloud: cloud, Now: clock}), mem, cfg, clock
}

// TestGoldenAnswers pins every answer the API gives, byte for byte: pings (first, IPv6,
// steady, delta), the status JSON, the dyndns2 answers and each error.
func TestGoldenAnswers(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	s, mem, cfg, clock := newGoldenServer(t, goldenConfig, goldenCloud{}, &now)
	nonce := 0
	signed := func(n site.Name, secret, method, path, body string, ts time.Time) string {
		nonce++
		return auth.Header(n, []byte(secret), method, path, ts.Unix(), fmt.Sprintf("golden-nonce-%04d", nonce), []byte(body))
	}
	req := func(method, path, authz, body, source string) *fcevent.HTTP {
		h := &fcevent.HTTP{RequestID: "req-1", Method: method, Path: path, Query: url.Values{}, Header: http.Header{}, Body: []byte(body)}
		if authz != "" {
			h.Header.Set("Authorization", authz)
		}
		if source != "" {
			h.Source = netip.MustParseAddr(source)
		}
		return h
	}
	ping := func(n site.Name, secret, body, source string) *fcevent.HTTP {
		return req("POST", wire.PathPing, signed(n, secret, "POST", wire.PathPing, body, now), body, source)
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	serve := func(name string, h *fcevent.HTTP, decodeErr error) {
		t.Helper()
		r, out := s.Serve(ctx, h, decodeErr)
		golden(t, name, r, out)
		now = now.Add(time.Second)
	}
	const hzKey, bjKey, ddns = "hz-secret-0123456789abcdef", "bj-secret-0123456789abcdef", "hz-ddns-key-0123456789abcdef"

	serve("ping_first", ping("bj", bjKey, `{"agent":"ppter-pinger/golden"}`, "198.51.100.9"), nil)
	serve("ping_ipv6", ping("bj", bjKey, ``, "2001:db8::9"), nil)
	serve("ping_peers", ping("hz", hzKey, `{}`, "203.0.113.7"), nil)
	serve("ping_steady", ping("hz", hzKey, `{}`, "203.0.113.7"), nil)
	serve("ping_basic", req("POST", wire.PathPing, basic("hz", hzKey), "", "203.0.113.7"), nil)
	_, ver, _ := mem.Fleet(ctx)
	serve("ping_bj_moves", ping("bj", bjKey, `{}`, "198.51.100.10"), nil)
	serve("ping_delta", ping("hz", hzKey, fmt.Sprintf(`{"since":%d}`, ver), "203.0.113.7"), nil)
	serve("health", req("GET", wire.PathHealth, "", "", "203.0.113.7"), nil)
	serve("health_head", req("HEAD", wire.PathHealth, "", "", "203.0.113.7"), nil)

	status := req("GET", wire.PathStatus, "Bearer admin-token-0123456789abcdef", "", "203.0.113.7")
	serve("status_json", status, nil)
	status.Query.Set("events", "1")
	serve("status_json_events", status, nil)
	status.Header.Set("Accept", "text/html")
	serve("status_html", status, nil)
	status.Query.Set("events", "x")
	serve("err_bad_request_events", status, nil)

	nic := func(authz, source string, q ...string) *fcevent.HTTP {
		h := req("GET", wire.PathDynDNS2, authz, "", source)
		for i := 0; i+1 < len(q); i += 2 {
			h.Query.Add(q[i], q[i+1])
		}
		return h
	}
	serve("nic_good", nic(basic("hz", ddns), "203.0.113.50", "hostname", "hz"), nil)
	serve("nic_nochg", nic(basic("hz", ddns), "203.0.113.50", "hostname", "hz,HZ."), nil)
	serve("nic_nohost", nic(basic("hz", ddns), "203.0.113.50", "hostname", "bj"), nil)
	serve("nic_mixed", nic(basic("hz", ddns), "203.0.113.50", "hostname", "hz,bj,-bad-"), nil)
	serve("nic_notfqdn", nic(basic("hz", ddns), "203.0.113.50"), nil)
	serve("nic_numhost", nic(basic("hz", ddns), "203.0.113.50", "hostname", strings.Repeat("hz,", 21)), nil)
	serve("nic_no_source", nic(basic("hz", ddns), "", "hostname", "hz"), nil)
	serve("nic_hmac", nic(signed("hz", hzKey, "GET", wire.PathDynDNS2, "", now), "203.0.113.50", "hostname", "hz"), nil)
	serve("nic_missing", nic("", "203.0.113.50", "hostname", "hz"), nil)
	serve("nic_badauth", nic(basic("hz", "wrong-wrong-wrong"), "203.0.113.51", "hostname", "hz"), nil)
	serve("nic_badauth2", nic(basic("hz", "wrong-wrong-wrong"), "203.0.113.51", "hostname", "hz"), nil)
	serve("nic_abuse", nic(basic("hz", ddns), "203.0.113.51", "hostname", "hz"), nil)

	serve("err_not_found", req("GET", "/nope", "", "", "203.0.113.7"), nil)
	serve("err_method_not_allowed", req("GET", wire.PathPing, "", "", "203.0.113.7"), nil)
	serve("err_head_not_allowed", req("HEAD", wire.PathPing, "", "", "203.0.113.7"), nil)
	serve("err_body_too_large", req("POST", wire.PathPing, "", "", "203.0.113.7"), fcevent.ErrTooLarge)
	serve("err_bad_body", req("POST", wire.PathPing, "", "", "203.0.113.7"), fcevent.ErrBadBase64)
	serve("err_bad_request_unreadable", req("POST", wire.PathPing, "", "", "203.0.113.7"), errors.New("something else"))
	serve("err_bad_request_no_source", ping("hz", hzKey, `{}`, ""), nil)
	serve("err_bad_json_invalid", ping("hz", hzKey, `{"agent":`, "203.0.113.7"), nil)
	serve("err_bad_json_two_values", ping("hz", hzKey, `{} {}`, "203.0.113.7"), nil)
	serve("err_bad_json_not_object", ping("hz", hzKey, `[]`, "203.0.113.7"), nil)
	serve("err_bad_json_types", ping("hz", hzKey, `{"agent":1}`, "203.0.113.7"), nil)
	serve("err_unauthorized_missing", req("POST", wire.PathPing, "", "", "203.0.113.7"), nil)
	serve("err_unauthorized_malformed", req("POST", wire.PathPing, "Token x", "", "203.0.113.7"), nil)
	serve("err_unauthorized_wrong_secret", ping("hz", "wrong-secret-0123456789abcdef", `{}`, "203.0.113.8"), nil)
	serve("err_unauthorized_unknown_site", ping("zz", hzKey, `{}`, "203.0.113.9"), nil)
	serve("err_unauthorized_basic_disabled", req("POST", wire.PathPing, basic("bj", bjKey), "", "203.0.113.10"), nil)
	serve("err_stale_timestamp", req("POST", wire.PathPing, signed("hz", hzKey, "POST", wire.PathPing, "", now.Add(-time.Hour)), "", "203.0.113.7"), nil)
	h := ping("hz", hzKey, `{}`, "203.0.113.7")
	serve("ping_replay_first", h, nil)
	serve("err_replayed_nonce", h, nil)
	for i := range 2 {
		serve(fmt.Sprintf("err_basic_wrong_%d", i), req("POST", wire.PathPing, basic("hz", "wrong-wrong-wrong"), "", "203.0.113.11"), nil)
	}
	serve("err_too_many_failures", req("POST", wire.PathPing, basic("hz", hzKey), "", "203.0.113.11"), nil)
	serve("err_status_no_token", req("GET", wire.PathStatus, "", "", "203.0.113.12"), nil)
	serve("err_status_wrong_token", req("GET", wire.PathStatus, "Bearer nope", "", "203.0.113.12"), nil)

	s = New(cfg, brokenStore{mem, fmt.Errorf("redis: %w", store.ErrUnavailable)}, Options{Now: clock})
	serve("err_store_unavailable", ping("hz", hzKey, `{}`, "203.0.113.7"), nil)
	serve("err_status_store_unavailable", req("GET", wire.PathStatus, "Bearer admin-token-0123456789abcdef", "", "203.0.113.7"), nil)
	serve("nic_store_unavailable", nic(basic("hz", ddns), "203.0.113.50", "hostname", "hz"), nil)
	s = New(cfg, brokenStore{mem, errors.New("disk on fire")}, Options{Now: clock})
	serve("err_internal", ping("hz", hzKey, `{}`, "203.0.113.7"), nil)

	noAdmin := *cfg
	noAdmin.Admin.Token = ""
	s = New(&noAdmin, mem, Options{Now: clock})
	serve("err_status_disabled", req("GET", wire.PathStatus, "Bearer x", "", "203.0.113.7"), nil)
}

const goldenLinesConfig = `
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou }
admin: { token: "admin-token-0123456789abcdef" }
sites:
  hz: { key: "hz-secret-0123456789abcdef" }
  gz:
    key: "gz-secret-0123456789abcdef"
    dyndns_key: "gz-ddns-key-0123456789abcdef"
    lines: [telecom, unicom]
    ipv6_suffix: "::1"
    dns: [{zone: example.com, rr: gz-cu, type: A, line_of_site: unicom}]
`

// TestGoldenLines pins the answers about lines: a ping per line, the default line for a
// ping without one, a peer's lines (in full and in a delta), ipv6_suffix, /nic/update on
// a record that follows a line, the status page's lines, and unknown_line, which writes
// nothing.
func TestGoldenLines(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	s, mem, _, _ := newGoldenServer(t, goldenLinesConfig, goldenCloud{}, &now)
	nonce := 0
	ping := func(n site.Name, body, source string) *fcevent.HTTP {
		nonce++
		h := &fcevent.HTTP{RequestID: "req-1", Method: "POST", Path: wire.PathPing, Query: url.Values{}, Header: http.Header{}, Body: []byte(body), Source: netip.MustParseAddr(source)}
		h.Header.Set("Authorization", auth.Header(n, []byte(string(n)+"-secret-0123456789abcdef"), "POST", wire.PathPing, now.Unix(), fmt.Sprintf("golden-nonce-%04d", nonce), []byte(body)))
		return h
	}
	serve := func(name string, h *fcevent.HTTP) {
		t.Helper()
		r, out := s.Serve(ctx, h, nil)
		golden(t, name, r, out)
		now = now.Add(time.Second)
	}
	serve("lines_ping_telecom", ping("gz", `{"line":"telecom"}`, "198.51.100.20"))
	serve("lines_ping_unicom", ping("gz", `{"line":"unicom"}`, "203.0.113.30"))
	serve("lines_ping_default", ping("gz", `{}`, "198.51.100.20"))
	serve("lines_ping_ipv6_suffix", ping("gz", `{"line":"unicom"}`, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
	serve("lines_peer", ping("hz", `{}`, "192.0.2.1"))
	_, ver, _ := mem.Fleet(ctx)
	serve("lines_ping_unicom_moves", ping("gz", `{"line":"unicom"}`, "203.0.113.31"))
	serve("lines_peer_delta", ping("hz", fmt.Sprintf(`{"since":%d}`, ver), "192.0.2.1"))

	before, ver, _ := mem.Fleet(ctx)
	serve("err_unknown_line", ping("gz", `{"line":"mobile"}`, "198.51.100.99"))
	serve("err_unknown_line_no_lines", ping("hz", `{"line":"telecom"}`, "192.0.2.99"))
	if after, v, _ := mem.Fleet(ctx); v != ver || !slices.EqualFunc(before, after, func(a, b store.Record) bool {
		return a.Site == b.Site && a.Line == b.Line && a.IPv4 == b.IPv4 && a.Seen4.Equal(b.Seen4)
	}) {
		t.Errorf("unknown_line wrote: fleet %v at %d, was %v at %d", after, v, before, ver)
	}

	nic := &fcevent.HTTP{RequestID: "req-1", Method: "GET", Path: wire.PathDynDNS2, Query: url.Values{"hostname": {"gz-cu.example.com"}}, Header: http.Header{},
		Source: netip.MustParseAddr("203.0.113.32")}
	nic.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("gz:gz-ddns-key-0123456789abcdef")))
	serve("lines_nic_line_of_site", nic)
	nic.Query.Set("hostname", "gz")
	nic.Source = netip.MustParseAddr("2001:db8:1:3::99")
	serve("lines_nic_default_ipv6_suffix", nic)
	status := &fcevent.HTTP{RequestID: "req-1", Method: "GET", Path: wire.PathStatus, Query: url.Values{"events": {"3"}}, Header: http.Header{},
		Source: netip.MustParseAddr("192.0.2.1")}
	status.Header.Set("Authorization", "Bearer admin-token-0123456789abcdef")
	serve("lines_status_json", status)
	status.Header.Set("Accept", "text/html")
	serve("lines_status_html", status)
	recs, _, _ := mem.Fleet(ctx)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s/%s %s %s", r.Site, r.Line, wire.AddrString(r.IPv4), wire.AddrString(r.IPv6)))
	}
	if want := []string{"gz/ 198.51.100.20 2001:db8:1:3::1", "gz/unicom 203.0.113.32 2001:db8:1:2::1", "hz/ 192.0.2.1 "}; !slices.Equal(got, want) {
		t.Errorf("fleet = %q, want %q", got, want)
	}
}
