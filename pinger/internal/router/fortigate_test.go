package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

const fortiToken = "fgt-token-cdef0123"

// fakeFortiGate models the FortiOS CMDB REST API for vpn.ipsec/phase1-interface: objects
// per VDOM, a bearer token that is bound to the root VDOM, FortiOS's answer envelope,
// 404 for unknown objects, and the CLI's refusals (an address of the wrong family, a
// remote-gw on a dial-up tunnel, an unknown attribute). Any other request fails the test.
type fakeFortiGate struct {
	t    *testing.T
	mu   sync.Mutex
	vdom map[string]map[string]map[string]any // vdom → name → attributes
	puts int
}

func newFakeFortiGate(t *testing.T) *fakeFortiGate {
	return &fakeFortiGate{t: t, vdom: map[string]map[string]map[string]any{
		"root": {
			"to-bj":   {"name": "to-bj", "type": "static", "interface": "wan1", "ip-version": "4", "remote-gw": "198.51.100.9", "remote-gw6": "::", "psksecret": "ENC xyz"},
			"to-six":  {"name": "to-six", "type": "static", "interface": "wan1", "ip-version": "6", "remote-gw": "0.0.0.0", "remote-gw6": "::"},
			"dial-up": {"name": "dial-up", "type": "dynamic", "interface": "wan1", "ip-version": "4", "remote-gw": "0.0.0.0", "remote-gw6": "::"},
		},
		"branch": {},
	}}
}

func fortiJSON(w http.ResponseWriter, r *http.Request, status int, extra map[string]any) {
	ans := map[string]any{"http_method": r.Method, "status": "success", "http_status": status, "vdom": "root", "path": "vpn.ipsec", "name": "phase1-interface"}
	if status != 200 {
		ans["status"] = "error"
	}
	for k, v := range extra {
		ans[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ans)
}

func (f *fakeFortiGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+fortiToken || r.URL.Query().Has("access_token") {
		w.WriteHeader(http.StatusUnauthorized) // FortiOS answers 401 with an HTML page
		return
	}
	vdom := r.URL.Query().Get("vdom")
	if vdom == "" {
		vdom = "root"
	}
	if vdom != "root" {
		fortiJSON(w, r, 403, nil) // the token's admin profile covers root only
		return
	}
	for k := range r.URL.Query() {
		if k != "vdom" {
			f.t.Errorf("fortigate: unexpected query %q", k)
		}
	}
	const prefix = "/api/v2/cmdb/vpn.ipsec/phase1-interface/"
	name, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok || name == "" {
		f.t.Errorf("fortigate: unexpected %s %s", r.Method, r.URL)
		fortiJSON(w, r, 404, nil)
		return
	}
	name, _ = url.PathUnescape(name)
	obj, ok := f.vdom[vdom][name]
	if !ok {
		fortiJSON(w, r, 404, nil)
		return
	}
	switch r.Method {
	case http.MethodGet:
		fortiJSON(w, r, 200, map[string]any{"mkey": name, "results": []any{obj}})
	case http.MethodPut:
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("fortigate: PUT with Content-Type %q", ct)
		}
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fortiJSON(w, r, 400, map[string]any{"error": -1})
			return
		}
		for k, v := range body {
			if _, known := obj[k]; !known || k == "name" {
				f.t.Errorf("fortigate: PUT of unknown or key attribute %q", k)
				fortiJSON(w, r, 500, map[string]any{"error": -3, "cli_error": "command parse error"})
				return
			}
			if k == "remote-gw" || k == "remote-gw6" {
				a, err := netip.ParseAddr(v)
				if err != nil || a.Is4() != (k == "remote-gw") {
					fortiJSON(w, r, 500, map[string]any{"error": -651, "cli_error": "invalid value"})
					return
				}
				if obj["type"] != "static" {
					fortiJSON(w, r, 500, map[string]any{"error": -651, "cli_error": "remote-gw is only for a static remote gateway"})
					return
				}
			}
		}
		for k, v := range body {
			obj[k] = v
		}
		f.puts++
		fortiJSON(w, r, 200, map[string]any{"mkey": name, "revision": "a1b2c3"})
	default:
		f.t.Errorf("fortigate: unexpected %s %s", r.Method, r.URL)
		fortiJSON(w, r, 405, nil)
	}
}

func newFortiGateDriver(t *testing.T, url, token, vdom string, tls TLSConfig) *FortiGate {
	t.Helper()
	d, err := NewFortiGate(FortiGateConfig{
		URL: url, Token: token, VDOM: vdom, TLS: tls,
		Peers: map[site.Peer]FortiGatePeer{
			{Site: "bj"}:   {Phase1: "to-bj"},
			{Site: "six"}:  {Phase1: "to-six", Family: 6},
			{Site: "dial"}: {Phase1: "dial-up"},
			{Site: "gone"}: {Phase1: "to-gone"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFortiGateApply(t *testing.T) {
	f := newFakeFortiGate(t)
	tr := &traceRecorder{next: f}
	srv := httptest.NewServer(tr)
	defer srv.Close()
	d := newFortiGateDriver(t, srv.URL, fortiToken, "root", TLSConfig{})
	for _, c := range []Change{change("bj", 4, "198.51.100.10"), change("six", 6, "2001:db8::6"), change("bj", 4, "198.51.100.10")} {
		if !d.Wants(c) {
			t.Fatalf("Wants(%v) = false", c)
		}
		if err := d.Apply(context.Background(), c); err != nil {
			t.Fatalf("Apply(%v): %v", c, err)
		}
	}
	if got := f.vdom["root"]["to-bj"]["remote-gw"]; got != "198.51.100.10" {
		t.Errorf("to-bj remote-gw = %v, want 198.51.100.10", got)
	}
	if got := f.vdom["root"]["to-six"]["remote-gw6"]; got != "2001:db8::6" {
		t.Errorf("to-six remote-gw6 = %v, want 2001:db8::6", got)
	}
	if f.puts != 2 {
		t.Errorf("got %d PUTs, want 2 (the third change was already there)", f.puts)
	}
	golden(t, "fortigate/apply.trace", tr.bytes())
}

func TestFortiGateFailures(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		vdom   string
		change Change
		want   error
		text   string
	}{
		{name: "wrong token", token: "wrong-token", change: change("bj", 4, "192.0.2.9"), want: ErrApply, text: "HTTP 401"},
		{name: "vdom outside the token's profile", token: fortiToken, vdom: "branch", change: change("bj", 4, "192.0.2.9"), want: ErrApply, text: "HTTP 403"},
		{name: "unknown phase1", token: fortiToken, change: change("gone", 4, "192.0.2.9"), want: ErrNotFound, text: `"to-gone"`},
		{name: "dial-up tunnel", token: fortiToken, change: change("dial", 4, "192.0.2.9"), want: ErrApply, text: `type "dynamic"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeFortiGate(t)
			srv := httptest.NewServer(f)
			defer srv.Close()
			err := newFortiGateDriver(t, srv.URL, tc.token, tc.vdom, TLSConfig{}).Apply(context.Background(), tc.change)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %s", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Errorf("error %q contains the token", err)
			}
			if f.puts != 0 {
				t.Errorf("got %d PUTs, want 0", f.puts)
			}
		})
	}
}

func TestFortiGateTLS(t *testing.T) {
	testDriverTLS(t, newFakeFortiGate(t), func(url string, tls TLSConfig) Driver {
		return newFortiGateDriver(t, url, fortiToken, "", tls)
	}, change("bj", 4, "198.51.100.11"))
}

func TestNewFortiGateRefusesBadConfig(t *testing.T) {
	peers := map[site.Peer]FortiGatePeer{{Site: "bj"}: {Phase1: "to-bj"}}
	tests := []struct {
		name string
		cfg  FortiGateConfig
		text string
	}{
		{name: "no url", cfg: FortiGateConfig{Token: "t", Peers: peers}, text: "url must be"},
		{name: "no token", cfg: FortiGateConfig{URL: "https://r", Peers: peers}, text: "token_file"},
		{name: "no peers", cfg: FortiGateConfig{URL: "https://r", Token: "t"}, text: "no peers"},
		{name: "bad vdom", cfg: FortiGateConfig{URL: "https://r", Token: "t", VDOM: "a/b", Peers: peers}, text: "bad vdom"},
		{name: "no phase1", cfg: FortiGateConfig{URL: "https://r", Token: "t", Peers: map[site.Peer]FortiGatePeer{{Site: "bj"}: {}}}, text: "bad phase1"},
		{name: "phase1 too long", cfg: FortiGateConfig{URL: "https://r", Token: "t", Peers: map[site.Peer]FortiGatePeer{{Site: "bj"}: {Phase1: strings.Repeat("x", 36)}}}, text: "35 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewFortiGate(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.text)
			}
		})
	}
}
