package main_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// TestBasicIsOffUnlessEnabled: Basic sends the secret itself, so a site accepts it only
// with basic: true; a dyndns_key is the only password /nic/update takes for its site (never
// /v1/ping, never a signature), so a router's DDNS client never holds the HMAC secret; and
// HEAD records nothing.
func TestBasicIsOffUnlessEnabled(t *testing.T) {
	const (
		keySH  = "sh-secret-0123456789abcdef" // sh has no basic: true in start()
		keyGZ  = "gz-secret-0123456789abcdef"
		ddnsGZ = "gz-ddns-key-0123456789abcdef"
	)
	f := start(t, `
  gz: { key: "`+keyGZ+`", dyndns_key: "`+ddnsGZ+`" }
`)
	tests := []struct {
		name         string
		r            req
		status       int
		code, answer string // the JSON error code, or the dyndns2 answer
		records      bool
	}{
		{"ping: Basic of a site without basic", req{method: "POST", path: wire.PathPing, auth: basicAuth("sh", keySH)}, 401, "unauthorized", "", false},
		{"nic/update: key of a site without basic", req{method: "GET", path: "/nic/update?hostname=sh", auth: basicAuth("sh", keySH)}, 401, "", "badauth\n", false},
		{"nic/update: dyndns_key", req{method: "GET", path: "/nic/update?hostname=gz", auth: basicAuth("gz", ddnsGZ)}, 200, "", "good 192.0.2.90\n", true},
		{"nic/update: the site key where a dyndns_key is set", req{method: "GET", path: "/nic/update?hostname=gz", auth: basicAuth("gz", keyGZ)}, 401, "", "badauth\n", false},
		{"ping: dyndns_key as Basic", req{method: "POST", path: wire.PathPing, auth: basicAuth("gz", ddnsGZ)}, 401, "unauthorized", "", false},
		{"ping: signed with the dyndns_key", req{method: "POST", path: wire.PathPing, auth: signed("gz", ddnsGZ, time.Now().Unix(), auth.NewNonce(), nil)}, 401, "unauthorized", "", false},
		{"HEAD nic/update with the right key", req{method: "HEAD", path: "/nic/update?hostname=hz", auth: basicAuth("hz", keyHZ)}, 405, "", "", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.source = "192.0.2." + strconv.Itoa(100+i)
			if tt.records {
				tt.r.source = "192.0.2.90"
			}
			before := f.state(t)
			code, b, h := f.do(t, tt.r)
			switch {
			case tt.r.method == "HEAD":
				if code != tt.status || h.Get("Allow") != "GET" {
					t.Fatalf("got %d Allow %q, want %d Allow GET", code, h.Get("Allow"), tt.status)
				}
			case tt.answer != "":
				if code != tt.status || string(b) != tt.answer {
					t.Fatalf("got %d %q, want %d %q", code, b, tt.status, tt.answer)
				}
			default:
				if code != tt.status || !strings.Contains(string(b), `"code":"`+tt.code+`"`) || !strings.Contains(string(b), "invalid credentials (unknown site or wrong secret)") {
					t.Fatalf("got %d %s, want %d %s", code, b, tt.status, tt.code)
				}
			}
			if changed := f.state(t) != before; changed != tt.records {
				t.Fatalf("state changed=%v, want %v", changed, tt.records)
			}
		})
	}
	// The operator's log says why, naming no secret; signed pings of those sites work.
	if logs := f.logs.String(); !strings.Contains(logs, "basic: true enables the key") || strings.Contains(logs, keySH) || strings.Contains(logs, ddnsGZ) {
		t.Fatalf("log does not explain the refused Basic, or leaks a secret:\n%s", logs)
	}
	f.ping(t, "sh", keySH, "192.0.2.91")
	f.ping(t, "gz", keyGZ, "192.0.2.92")
	// HEAD is still answered where it records nothing.
	if code, _, _ := f.do(t, req{method: "HEAD", path: wire.PathHealth}); code != http.StatusOK {
		t.Fatalf("HEAD /healthz: %d", code)
	}
}
