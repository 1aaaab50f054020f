package main_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

const keyGZ = "gz-secret-0123456789abcdef"

// pingBody pings as site s with the JSON body given, signed at ts, and returns the status,
// the body and the headers.
func (f *fixture) pingBody(t *testing.T, s site.Name, key, source, body string, ts int64) (int, []byte, http.Header) {
	t.Helper()
	return f.do(t, req{method: "POST", path: wire.PathPing, source: source, body: []byte(body),
		auth: signed(s, key, ts, auth.NewNonce(), []byte(body))})
}

// okPing is pingBody that must succeed, decoded.
func (f *fixture) okPing(t *testing.T, s site.Name, key, source, body string, ts int64) wire.PingResponse {
	t.Helper()
	code, b, _ := f.pingBody(t, s, key, source, body, ts)
	if code != http.StatusOK {
		t.Fatalf("ping: %d %s", code, b)
	}
	var pr wire.PingResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestLinesThroughTheBinary is issue 14's parts 1, 2 and 4 through the compiled function
// under the FC emulator: a two-line office's lines recorded apart, an undeclared line
// refused without a write, the IPv6 suffix, and a stale timestamp answered with the
// function's time.
func TestLinesThroughTheBinary(t *testing.T) {
	f := start(t, `  gz: { key: "`+keyGZ+`", lines: [telecom, unicom], ipv6_suffix: "::1" }`)
	now := time.Now().Unix()

	tel := f.okPing(t, "gz", keyGZ, "198.51.100.20", `{"agent":"e2e","line":"telecom"}`, now)
	uni := f.okPing(t, "gz", keyGZ, "203.0.113.30", `{"agent":"e2e","line":"unicom"}`, now)
	if tel.Line != "telecom" || tel.IP.String() != "198.51.100.20" || uni.Line != "unicom" || uni.IP.String() != "203.0.113.30" {
		t.Fatalf("lines recorded as %s=%s and %s=%s", tel.Line, tel.IP, uni.Line, uni.IP)
	}
	// A ping without a line is the default line's (the first listed): it moves telecom only.
	def := f.okPing(t, "gz", keyGZ, "198.51.100.21", `{"agent":"e2e"}`, now)
	if def.Line != "telecom" || !def.Changed || def.PreviousIP.String() != "198.51.100.20" {
		t.Fatalf("a ping without a line: %+v, want telecom moved from 198.51.100.20", def)
	}
	// The IPv6 source of a LAN host becomes its /64 with the site's interface ID.
	v6 := f.okPing(t, "gz", keyGZ, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", `{"agent":"e2e","line":"unicom"}`, now)
	if v6.IP != netip.MustParseAddr("2001:db8:1:2::1") || v6.Family != wire.IPv6 {
		t.Fatalf("IPv6 with ipv6_suffix recorded as %s (%s), want 2001:db8:1:2::1", v6.IP, v6.Family)
	}

	// hz sees gz's default line at the top level and both lines in lines.
	hz := f.ping(t, "hz", keyHZ, "192.0.2.1")
	var gz *wire.Peer
	for i := range hz.Peers {
		if hz.Peers[i].Site == "gz" {
			gz = &hz.Peers[i]
		}
	}
	if gz == nil {
		t.Fatalf("hz's answer has no gz: %+v", hz.Peers)
	}
	if gz.IPv4.String() != "198.51.100.21" || len(gz.Lines) != 2 ||
		gz.Lines[0].Name != "telecom" || gz.Lines[0].IPv4.String() != "198.51.100.21" ||
		gz.Lines[1].Name != "unicom" || gz.Lines[1].IPv4.String() != "203.0.113.30" || gz.Lines[1].IPv6.String() != "2001:db8:1:2::1" {
		t.Fatalf("gz as hz sees it: %+v", *gz)
	}

	// An undeclared line, and any line of a site without lines: 400 unknown_line, no write.
	before := f.state(t)
	for _, c := range []struct {
		site     site.Name
		key, src string
	}{{"gz", keyGZ, "198.51.100.99"}, {"hz", keyHZ, "192.0.2.99"}} {
		code, b, _ := f.pingBody(t, c.site, c.key, c.src, `{"agent":"e2e","line":"mobile"}`, now)
		if code != http.StatusBadRequest || !strings.Contains(string(b), `"code":"unknown_line"`) {
			t.Fatalf("%s line mobile: %d %s, want 400 unknown_line", c.site, code, b)
		}
	}
	if after := f.state(t); after != before {
		t.Fatalf("unknown_line changed state:\nbefore %s\nafter  %s", before, after)
	}

	// A clock three hours behind: 401 stale_timestamp carrying the function's time, which
	// a pinger can sign with; still nothing written.
	sent := time.Now()
	code, b, h := f.pingBody(t, "gz", keyGZ, "198.51.100.99", `{"agent":"e2e","line":"telecom"}`, sent.Add(-3*time.Hour).Unix())
	var er wire.ErrorResponse
	if err := json.Unmarshal(b, &er); err != nil || code != http.StatusUnauthorized || er.Error.Code != wire.CodeStaleTimestamp {
		t.Fatalf("stale ping: %d %s (%v)", code, b, err)
	}
	if d := er.Error.ServerTime.Sub(sent); d < -2*time.Second || d > time.Minute {
		t.Fatalf("server_time %v is %v from the request's real time", er.Error.ServerTime, d)
	}
	if _, err := http.ParseTime(h.Get("Date")); err != nil {
		t.Fatalf("Date header %q: %v", h.Get("Date"), err)
	}
	if after := f.state(t); after != before {
		t.Fatalf("the stale ping changed state:\nbefore %s\nafter  %s", before, after)
	}
	retry := f.okPing(t, "gz", keyGZ, "198.51.100.99", `{"agent":"e2e","line":"telecom"}`, er.Error.ServerTime.Unix())
	if !retry.Changed || retry.IP.String() != "198.51.100.99" {
		t.Fatalf("signed with server_time: %+v", retry)
	}
}
