package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

const (
	opnKey    = "opn-key-0123"
	opnSecret = "opn-secret-4567"
	opnBJ     = "3d9b0f2e-5d0c-4a8e-9f7c-1b2a3c4d5e6f"
	opnSH     = "0a1b2c3d-0000-4000-8000-00000000cafe"
	opnGone   = "deadbeef-0000-4000-8000-000000000000"
)

// fakeOPNsense models the OPNsense API the driver uses: the saved IPsec connections
// (what set_connection changes) apart from the running ones (what service/reconfigure
// applies), Basic auth with key and secret, OPNsense's answers to unknown UUIDs ([]) and
// to bad values (result "failed" with validations). Any other request fails the test.
type fakeOPNsense struct {
	t               *testing.T
	mu              sync.Mutex
	saved, running  map[string]map[string]string // uuid → connection fields
	sets, reconfigs int
	failReconfigure bool
}

func newFakeOPNsense(t *testing.T) *fakeOPNsense {
	conn := func(remote string) map[string]string {
		return map[string]string{"enabled": "1", "description": "office", "remote_addrs": remote, "local_addrs": "", "version": "2"}
	}
	f := &fakeOPNsense{t: t,
		saved:   map[string]map[string]string{opnBJ: conn("198.51.100.9"), opnSH: conn("")},
		running: map[string]map[string]string{opnBJ: conn("198.51.100.9"), opnSH: conn("")},
	}
	t.Cleanup(func() {
		for id, c := range f.saved {
			if c["remote_addrs"] != f.running[id]["remote_addrs"] {
				t.Errorf("opnsense: connection %s saved with %q but running %q: the change was never applied", id, c["remote_addrs"], f.running[id]["remote_addrs"])
			}
		}
	})
	return f
}

func opnJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeOPNsense) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, s, ok := r.BasicAuth(); !ok || k != opnKey || s != opnSecret {
		opnJSON(w, 401, map[string]any{"status": 401, "message": "Authentication Failed"})
		return
	}
	const conns = "/api/ipsec/connections/"
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, conns+"get_connection/"):
		c, ok := f.saved[strings.TrimPrefix(r.URL.Path, conns+"get_connection/")]
		if !ok {
			opnJSON(w, 200, []any{})
			return
		}
		opnJSON(w, 200, map[string]any{"connection": c})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, conns+"set_connection/"):
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("opnsense: set_connection with Content-Type %q", ct)
		}
		var body struct {
			Connection map[string]string `json:"connection"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Connection == nil {
			opnJSON(w, 200, map[string]any{"result": "failed"})
			return
		}
		c, ok := f.saved[strings.TrimPrefix(r.URL.Path, conns+"set_connection/")]
		if !ok {
			opnJSON(w, 200, map[string]any{"result": "failed"})
			return
		}
		for k, v := range body.Connection {
			if _, known := c[k]; !known {
				f.t.Errorf("opnsense: set_connection of unknown field %q", k)
				opnJSON(w, 200, map[string]any{"result": "failed"})
				return
			}
			if k == "remote_addrs" && v != "" {
				for _, a := range strings.Split(v, ",") {
					if _, err := netip.ParseAddr(a); err != nil {
						opnJSON(w, 200, map[string]any{"result": "failed", "validations": map[string]string{"connection.remote_addrs": "Please specify valid addresses."}})
						return
					}
				}
			}
		}
		for k, v := range body.Connection {
			c[k] = v
		}
		f.sets++
		opnJSON(w, 200, map[string]any{"result": "saved"})
	case r.Method == http.MethodPost && r.URL.Path == "/api/ipsec/service/reconfigure":
		f.reconfigs++
		if f.failReconfigure {
			opnJSON(w, 200, map[string]any{"status": "failed"})
			return
		}
		for id, c := range f.saved {
			cp := map[string]string{}
			for k, v := range c {
				cp[k] = v
			}
			f.running[id] = cp
		}
		opnJSON(w, 200, map[string]any{"status": "ok"})
	default:
		f.t.Errorf("opnsense: unexpected %s %s", r.Method, r.URL)
		opnJSON(w, 404, map[string]any{"errorMessage": "Endpoint not found", "errorTitle": "An error occurred"})
	}
}

func newOPNsenseDriver(t *testing.T, url, secret string, tls TLSConfig) *OPNsense {
	t.Helper()
	d, err := NewOPNsense(OPNsenseConfig{
		URL: url, Key: opnKey, Secret: secret, TLS: tls,
		Peers: map[site.Peer]OPNsensePeer{{Site: "bj"}: {Connection: opnBJ}, {Site: "sh"}: {Connection: opnSH}, {Site: "gz"}: {Connection: opnGone}, {Site: "six"}: {Connection: opnSH, Family: 6}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOPNsenseApply(t *testing.T) {
	f := newFakeOPNsense(t)
	tr := &traceRecorder{next: f, secrets: []string{opnKey, opnSecret}}
	srv := httptest.NewServer(tr)
	defer srv.Close()
	d := newOPNsenseDriver(t, srv.URL, opnSecret, TLSConfig{})
	ctx := context.Background()
	for _, c := range []Change{change("bj", 4, "198.51.100.10"), change("six", 6, "2001:db8::7"), change("bj", 4, "198.51.100.10")} {
		if !d.Wants(c) {
			t.Fatalf("Wants(%v) = false", c)
		}
		if err := d.Apply(ctx, c); err != nil {
			t.Fatalf("Apply(%v): %v", c, err)
		}
	}
	if got := f.running[opnBJ]["remote_addrs"]; got != "198.51.100.10" {
		t.Errorf("running bj remote_addrs = %q, want 198.51.100.10", got)
	}
	if got := f.running[opnSH]["remote_addrs"]; got != "2001:db8::7" {
		t.Errorf("running sh remote_addrs = %q, want 2001:db8::7", got)
	}
	if f.sets != 2 || f.reconfigs != 2 {
		t.Errorf("got %d sets and %d reconfigures, want 2 and 2 (the third change was already there)", f.sets, f.reconfigs)
	}
	golden(t, "opnsense/apply.trace", tr.bytes())
}

func TestOPNsenseFailures(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		change Change
		want   error
		text   string
	}{
		{name: "wrong secret", secret: "wrong-secret", change: change("bj", 4, "192.0.2.9"), want: ErrApply, text: "HTTP 401: Authentication Failed"},
		{name: "unknown connection", secret: opnSecret, change: change("gz", 4, "192.0.2.9"), want: ErrNotFound, text: opnGone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOPNsense(t)
			srv := httptest.NewServer(f)
			defer srv.Close()
			err := newOPNsenseDriver(t, srv.URL, tc.secret, TLSConfig{}).Apply(context.Background(), tc.change)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %s", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), opnKey) {
				t.Errorf("error %q contains a credential", err)
			}
			if f.sets != 0 || f.reconfigs != 0 {
				t.Errorf("got %d sets, %d reconfigures, want none", f.sets, f.reconfigs)
			}
		})
	}
}

// A failed reconfigure puts the old address back, so the retry does both steps again.
func TestOPNsenseReconfigureFailureRetries(t *testing.T) {
	f := newFakeOPNsense(t)
	srv := httptest.NewServer(f)
	defer srv.Close()
	d := newOPNsenseDriver(t, srv.URL, opnSecret, TLSConfig{})
	c := change("bj", 4, "198.51.100.10")
	f.failReconfigure = true
	if err := d.Apply(context.Background(), c); !errors.Is(err, ErrApply) || !strings.Contains(err.Error(), "reconfigure") {
		t.Fatalf("got %v, want ErrApply from reconfigure", err)
	}
	if got := f.saved[opnBJ]["remote_addrs"]; got != "198.51.100.9" {
		t.Errorf("saved remote_addrs after the failure = %q, want the old 198.51.100.9 back", got)
	}
	f.failReconfigure = false
	if err := d.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := f.running[opnBJ]["remote_addrs"]; got != "198.51.100.10" {
		t.Errorf("running remote_addrs = %q, want 198.51.100.10", got)
	}
}

func TestOPNsenseTLS(t *testing.T) {
	testDriverTLS(t, newFakeOPNsense(t), func(url string, tls TLSConfig) Driver {
		return newOPNsenseDriver(t, url, opnSecret, tls)
	}, change("bj", 4, "198.51.100.11"))
}

func TestParseOPNsenseKeyFile(t *testing.T) {
	k, s, err := ParseOPNsenseKeyFile([]byte("key=abc+/=\r\nsecret=def=\n"))
	if err != nil || k != "abc+/=" || s != "def=" {
		t.Fatalf("got %q %q %v", k, s, err)
	}
	if _, _, err := ParseOPNsenseKeyFile([]byte("key=abc\n")); err == nil {
		t.Fatal("no secret line: got nil error")
	}
}

func TestNewOPNsenseRefusesBadConfig(t *testing.T) {
	peers := map[site.Peer]OPNsensePeer{{Site: "bj"}: {Connection: opnBJ}}
	tests := []struct {
		name string
		cfg  OPNsenseConfig
		text string
	}{
		{name: "no url", cfg: OPNsenseConfig{Key: "k", Secret: "s", Peers: peers}, text: "url must be"},
		{name: "no key", cfg: OPNsenseConfig{URL: "https://r", Secret: "s", Peers: peers}, text: "api_key_file"},
		{name: "no secret", cfg: OPNsenseConfig{URL: "https://r", Key: "k", Peers: peers}, text: "api_key_file"},
		{name: "no peers", cfg: OPNsenseConfig{URL: "https://r", Key: "k", Secret: "s"}, text: "no peers"},
		{name: "name not uuid", cfg: OPNsenseConfig{URL: "https://r", Key: "k", Secret: "s", Peers: map[site.Peer]OPNsensePeer{{Site: "bj"}: {Connection: "to-bj"}}}, text: "UUID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewOPNsense(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.text)
			}
		})
	}
}
