package main_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/wire"
)

// TestDynDNS2 drives /nic/update through the real binary the way routers' DDNS clients call
// it: ddclient (hostname list, system/wildcard parameters) and inadyn (myip, its user agent).
func TestDynDNS2(t *testing.T) {
	f := start(t, `
  gz:
    key: "gz-secret-0123456789abcdef"
    basic: true
    trust_myip: true
    dns: [ { zone: example.com, rr: gz.vpn, type: A } ]
aliyun: { region: cn-hangzhou, dry_run: true }
`)
	get := func(path, user, pass, source, ua string) (int, string) {
		t.Helper()
		hr, _ := http.NewRequest("GET", f.emu.URL+path, nil)
		if user != "" {
			hr.SetBasicAuth(user, pass)
		}
		hr.Header.Set("User-Agent", ua)
		hr.Header.Set("X-Fcemu-Source-Ip", source)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("Content-Type %q, want text/plain", ct)
		}
		return resp.StatusCode, b.String()
	}
	const ddclient = "ddclient/3.10.0"
	const inadyn = "inadyn/2.10.0 https://github.com/troglobit/inadyn/issues"
	tests := []struct {
		name, path, user, pass, source, ua string
		status                             int
		body                               string
	}{
		{"ddclient first update", "/nic/update?system=dyndns&hostname=hz&wildcard=NOCHG&mx=NOCHG&backmx=NOCHG", "hz", keyHZ, "203.0.113.7", ddclient, 200, "good 203.0.113.7\n"},
		{"ddclient again", "/nic/update?system=dyndns&hostname=hz", "hz", keyHZ, "203.0.113.7", ddclient, 200, "nochg 203.0.113.7\n"},
		{"new address", "/nic/update?hostname=hz", "hz", keyHZ, "203.0.113.8", ddclient, 200, "good 203.0.113.8\n"},
		{"myip ignored without trust_myip", "/nic/update?hostname=hz&myip=198.51.100.1", "hz", keyHZ, "203.0.113.8", inadyn, 200, "nochg 203.0.113.8\n"},
		{"inadyn with trusted myip", "/nic/update?hostname=gz.vpn.example.com&myip=8.8.4.4", "gz", "gz-secret-0123456789abcdef", "192.0.2.1", inadyn, 200, "good 8.8.4.4\n"},
		{"private myip ignored", "/nic/update?hostname=gz&myip=10.0.0.1", "gz", "gz-secret-0123456789abcdef", "8.8.4.4", inadyn, 200, "nochg 8.8.4.4\n"},
		{"another site's hostname", "/nic/update?hostname=bj", "hz", keyHZ, "203.0.113.8", ddclient, 200, "nohost\n"},
		{"unknown hostname", "/nic/update?hostname=nowhere.example.com", "hz", keyHZ, "203.0.113.8", ddclient, 200, "nohost\n"},
		{"no hostname", "/nic/update", "hz", keyHZ, "203.0.113.8", ddclient, 200, "notfqdn\n"},
		{"wrong secret", "/nic/update?hostname=hz", "hz", "wrong-wrong-wrong", "192.0.2.50", ddclient, 401, "badauth\n"},
		{"no credentials", "/nic/update?hostname=hz", "", "", "192.0.2.51", ddclient, 401, "badauth\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state(t)
			code, body := get(tt.path, tt.user, tt.pass, tt.source, tt.ua)
			if code != tt.status || body != tt.body {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.status, tt.body)
			}
			recorded := strings.HasPrefix(tt.body, "good") || strings.HasPrefix(tt.body, "nochg")
			if changed := f.state(t) != before; changed != recorded {
				t.Fatalf("state changed=%v for answer %q", changed, tt.body)
			}
		})
	}
	// Repeated bad credentials from one address end in "abuse".
	var last string
	for range 6 {
		_, last = get("/nic/update?hostname=hz", "hz", "guess-guess-guess", "192.0.2.77", ddclient)
	}
	if last != "abuse\n" {
		t.Fatalf("after 6 failures: %q, want abuse", last)
	}
	// The signed pinger sees the address recorded through dyndns2.
	if p := f.ping(t, "bj", keyBJ, "198.51.100.9"); p.Peers[0].Site != "gz" || wire.AddrString(p.Peers[0].IPv4) != "8.8.4.4" || wire.AddrString(p.Peers[1].IPv4) != "203.0.113.8" {
		t.Fatalf("bj peers = %+v", p.Peers)
	}
}
