package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// fakeWebUI is a router admin page in the style of SMB routers: a login form with a CSRF
// token bound to a pre-login session cookie, a new session cookie after login (no session
// fixation), a second CSRF token in the admin page that must come back in a header, and a
// JSON endpoint per VPN peer. It keeps the peers' addresses and refuses anything else.
type fakeWebUI struct {
	t        *testing.T
	mu       sync.Mutex
	sessions map[string]*webSession // cookie value → session
	peers    map[string]string      // index → remote address
	updates  int
	logins   int
}

type webSession struct {
	authed bool
	csrf   string
}

func newFakeWebUI(t *testing.T) *fakeWebUI {
	return &fakeWebUI{t: t, sessions: map[string]*webSession{}, peers: map[string]string{"1": "192.0.2.1", "2": "198.51.100.9"}}
}

func token() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *fakeWebUI) session(r *http.Request) *webSession {
	c, err := r.Cookie("SID")
	if err != nil {
		return nil
	}
	return f.sessions[c.Value]
}

func (f *fakeWebUI) newSession(w http.ResponseWriter, authed bool) *webSession {
	id := token()
	s := &webSession{authed: authed, csrf: token()}
	f.sessions[id] = s
	http.SetCookie(w, &http.Cookie{Name: "SID", Value: id, Path: "/", HttpOnly: true})
	return s
}

func (f *fakeWebUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(r)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/login":
		s := f.newSession(w, false)
		fmt.Fprintf(w, `<html><form method="post" action="/login"><input name="user"><input type="password" name="pass"><input type="hidden" name="csrf" value="%s"></form></html>`, s.csrf)
	case r.Method == http.MethodPost && r.URL.Path == "/login":
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			f.t.Errorf("webui: login with Content-Type %q", ct)
		}
		if s == nil || s.authed || r.PostFormValue("csrf") != s.csrf {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "<html>Session expired</html>")
			return
		}
		if r.PostFormValue("user") != "admin" || r.PostFormValue("pass") != "router-pw" {
			fmt.Fprint(w, "<html>Login failed: wrong user name or password</html>") // 200, like real routers
			return
		}
		f.logins++
		f.newSession(w, true)
		http.Redirect(w, r, "/admin", http.StatusFound)
	case r.Method == http.MethodGet && r.URL.Path == "/admin":
		if s == nil || !s.authed {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		fmt.Fprintf(w, `<html><head><meta name="csrf-token" content="%s"></head><body>VPN</body></html>`, s.csrf)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/vpn/peer/"):
		idx := strings.TrimPrefix(r.URL.Path, "/api/vpn/peer/")
		w.Header().Set("Content-Type", "application/json")
		if s == nil || !s.authed || r.Header.Get("X-CSRF-Token") != s.csrf {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"ok":false,"error":"csrf"}`)
			return
		}
		if _, ok := f.peers[idx]; !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"ok":false,"error":"no such peer"}`)
			return
		}
		var body struct {
			Remote string `json:"remote"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Remote == "" {
			f.t.Errorf("webui: bad update body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"ok":false}`)
			return
		}
		f.peers[idx] = body.Remote
		f.updates++
		fmt.Fprintf(w, `{"ok":true,"peer":{"index":%q,"remote":%q}}`, idx, body.Remote)
	default:
		f.t.Errorf("webui: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

const webUIYAML = `
base_url: %s
username: admin
%s
peers:
  bj: { index: "2" }
login:
  - method: GET
    path: /login
    capture: [ { name: csrf, regex: 'name="csrf" value="([^"]+)"' } ]
  - method: POST
    path: /login
    form: { user: "{{.Username}}", pass: "{{.Password}}", csrf: "{{.Captured.csrf}}" }
    expect_body: 'csrf-token'
    capture: [ { name: token, regex: '<meta name="csrf-token" content="([^"]+)"' } ]
update:
  - method: POST
    path: /api/vpn/peer/{{.Vars.index}}
    headers: { X-CSRF-Token: "{{.Captured.token}}" }
    json: '{"remote":"{{.PeerIP}}"}'
    expect_body: '"ok":true'
    capture: [ { name: remote, json: peer.remote } ]
`

func loadHTTPConfig(t *testing.T, base, extra string) HTTPConfig {
	t.Helper()
	var cfg HTTPConfig
	dec := yaml.NewDecoder(strings.NewReader(fmt.Sprintf(webUIYAML, base, extra)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHTTPReplayUpdatesPeer(t *testing.T) {
	ui := newFakeWebUI(t)
	srv := httptest.NewServer(ui)
	defer srv.Close()
	cfg := loadHTTPConfig(t, srv.URL, "")
	cfg.Password = "router-pw"
	d, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := change("bj", 4, "198.51.100.10")
	if !d.Wants(c) || d.Wants(change("sh", 4, "192.0.2.1")) || d.Wants(change("bj", 6, "2001:db8::1")) {
		t.Fatal("Wants: want only bj over ipv4")
	}
	if err := d.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := ui.peers["2"]; got != "198.51.100.10" {
		t.Errorf("peer 2 = %q, want 198.51.100.10", got)
	}
	if got := ui.peers["1"]; got != "192.0.2.1" {
		t.Errorf("peer 1 changed to %q", got)
	}
	if ui.logins != 1 || ui.updates != 1 {
		t.Errorf("got %d logins, %d updates, want 1 and 1", ui.logins, ui.updates)
	}
}

func TestHTTPReplayFailures(t *testing.T) {
	tests := []struct {
		name     string
		password string
		mutate   func(*HTTPConfig)
		text     string
	}{
		{name: "wrong password", password: "wrong-pw", text: "login[1] /login: answer does not match expect_body"},
		{name: "missing csrf header", password: "router-pw", mutate: func(c *HTTPConfig) { c.Update[0].Headers = nil }, text: "update[0] /api/vpn/peer/{{.Vars.index}}: HTTP 403"},
		{name: "capture does not match", password: "router-pw", mutate: func(c *HTTPConfig) { c.Login[0].Capture[0].Regex = `name="token" value="([^"]+)"` }, text: "capture csrf: regex did not match"},
		{name: "missing template var", password: "router-pw", mutate: func(c *HTTPConfig) { c.Peers[site.Peer{Site: "bj"}] = map[string]string{} }, text: "missing value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ui := newFakeWebUI(t)
			srv := httptest.NewServer(ui)
			defer srv.Close()
			cfg := loadHTTPConfig(t, srv.URL, "")
			cfg.Password = tc.password
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			d, err := NewHTTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Apply(context.Background(), change("bj", 4, "198.51.100.10"))
			if !errors.Is(err, ErrApply) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want ErrApply mentioning %q", err, tc.text)
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q contains the password", err)
			}
			if ui.updates != 0 {
				t.Errorf("got %d updates, want 0", ui.updates)
			}
		})
	}
}

func TestHTTPReplayTLS(t *testing.T) {
	ui := newFakeWebUI(t)
	srv := httptest.NewTLSServer(ui)
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "router.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		extra   string
		wantErr bool
	}{
		{name: "verification on by default", extra: "", wantErr: true},
		{name: "router certificate as ca_file", extra: "ca_file: " + caFile},
		{name: "explicit insecure_skip_verify", extra: "insecure_skip_verify: true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadHTTPConfig(t, srv.URL, tc.extra)
			cfg.Password = "router-pw"
			d, err := NewHTTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Apply(context.Background(), change("bj", 4, "198.51.100.11"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewHTTPRefusesBadConfig(t *testing.T) {
	ok := []HTTPRequest{{Method: "POST", Path: "/x"}}
	tests := []struct {
		name string
		cfg  HTTPConfig
	}{
		{name: "no base url", cfg: HTTPConfig{Update: ok}},
		{name: "no update", cfg: HTTPConfig{BaseURL: "http://r"}},
		{name: "relative path", cfg: HTTPConfig{BaseURL: "http://r", Update: []HTTPRequest{{Path: "x"}}}},
		{name: "bad template", cfg: HTTPConfig{BaseURL: "http://r", Update: []HTTPRequest{{Path: "/{{.Peer"}}}},
		{name: "two bodies", cfg: HTTPConfig{BaseURL: "http://r", Update: []HTTPRequest{{Path: "/", Body: "a", JSON: "{}"}}}},
		{name: "bad regex", cfg: HTTPConfig{BaseURL: "http://r", Update: []HTTPRequest{{Path: "/", ExpectBody: "("}}}},
		{name: "capture without group", cfg: HTTPConfig{BaseURL: "http://r", Update: []HTTPRequest{{Path: "/", Capture: []HTTPCapture{{Name: "x", Regex: "abc"}}}}}},
		{name: "capture from nowhere", cfg: HTTPConfig{BaseURL: "http://r", Update: []HTTPRequest{{Path: "/", Capture: []HTTPCapture{{Name: "x", From: "query", Regex: "(a)"}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewHTTP(tc.cfg); err == nil {
				t.Fatal("got nil error")
			}
		})
	}
}

// TestHTTPSelfLine: the office's line and address a change is made from reach the router
// through {{.SelfLine}} and {{.SelfIP}}, in a path and a form.
func TestHTTPSelfLine(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got = append(got, r.URL.Path+" line="+r.PostForm.Get("line")+" old="+r.PostForm.Get("old"))
	}))
	defer srv.Close()
	d, err := NewHTTP(HTTPConfig{
		BaseURL: srv.URL, Peers: map[site.Peer]map[string]string{{Site: "bj", Line: "unicom"}: {}},
		Update: []HTTPRequest{{Method: "POST", Path: "/tunnel/{{.Peer}}/{{.SelfLine}}/{{.SelfIP}}", Form: map[string]string{"line": "{{.SelfLine}}", "old": "{{.OldIP}}"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Change{Peer: "bj", Line: "unicom", Family: 4, Old: mustAddr("198.51.100.20"), New: mustAddr("198.51.100.21"), SelfIP: mustAddr("203.0.113.8"), SelfLine: "unicom"}
	if err := d.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if want := "/tunnel/bj/unicom/203.0.113.8 line=unicom old=198.51.100.20"; len(got) != 1 || got[0] != want {
		t.Errorf("router saw %q, want %q", got, want)
	}
}

// TestHTTPWantsAndMapped: with peers set, the driver wants only those peer lines and maps
// them; without, every peer's default line and no named line, and maps none. Never a self
// change, nor another family.
func TestHTTPWantsAndMapped(t *testing.T) {
	tests := []struct {
		name   string
		peers  []site.Peer
		family wire.Family
		change Change
		want   bool
	}{
		{name: "no list: every peer", change: change("gz", 4, "198.51.100.9"), want: true},
		{name: "no list: not a named line", change: Change{Peer: "gz", Line: "unicom", Family: 4, New: mustAddr("198.51.100.9")}, want: false},
		{name: "no list: not another family", change: change("gz", 6, "2001:db8::9"), want: false},
		{name: "family ipv6", family: 6, change: change("gz", 6, "2001:db8::9"), want: true},
		{name: "listed line", peers: []site.Peer{{Site: "bj"}, {Site: "bj", Line: "unicom"}}, change: Change{Peer: "bj", Line: "unicom", Family: 4, New: mustAddr("198.51.100.9")}, want: true},
		{name: "listed line, default line change", peers: []site.Peer{{Site: "bj", Line: "unicom"}}, change: change("bj", 4, "198.51.100.9"), want: false},
		{name: "unlisted peer", peers: []site.Peer{{Site: "bj"}, {Site: "sh"}}, change: change("gz", 4, "198.51.100.9"), want: false},
		{name: "self", peers: []site.Peer{{Site: "hz"}}, change: Change{Peer: "hz", Self: true, Family: 4, New: mustAddr("203.0.113.8")}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := HTTPConfig{BaseURL: "https://192.0.2.1", Family: tc.family, Update: []HTTPRequest{{Path: "/x"}}}
			for _, p := range tc.peers {
				if cfg.Peers == nil {
					cfg.Peers = map[site.Peer]map[string]string{}
				}
				cfg.Peers[p] = map[string]string{}
			}
			d, err := NewHTTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Wants(tc.change); got != tc.want {
				t.Errorf("got Wants %v, want %v", got, tc.want)
			}
			got := d.Mapped()
			slices.SortFunc(got, func(a, b site.Peer) int { return strings.Compare(a.String(), b.String()) })
			if !slices.Equal(got, tc.peers) && (len(got) != 0 || len(tc.peers) != 0) {
				t.Errorf("Mapped %v, want %v", got, tc.peers)
			}
		})
	}
}
