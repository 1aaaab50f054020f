package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

// strictRouter is a web UI with a JSON login and a per-peer update addressed by name; it
// accepts exactly the values it was given and fails the test on anything else.
type strictRouter struct {
	t                *testing.T
	password, token  string
	peerName, remote string
	updated          atomic.Int32
}

func (s *strictRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/login":
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			s.t.Errorf("router: login body is not JSON: %v", err)
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if body["user"] != "admin" || body["pass"] != s.password || len(body) != 2 {
			s.t.Errorf("router: login with %q, want user admin and the password as one value", body)
			http.Error(w, "denied", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"token": s.token})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.EscapedPath(), "/api/peer/"):
		name, q := strings.TrimPrefix(r.URL.Path, "/api/peer/"), r.URL.Query()
		if name != s.peerName || r.URL.EscapedPath() != "/api/peer/"+url.PathEscape(s.peerName) {
			s.t.Errorf("router: update for peer %q (path %s), want %q as one segment", name, r.URL.EscapedPath(), s.peerName)
		}
		if len(q) != 2 || q.Get("tok") != s.token || q.Get("family") != "ipv4" {
			s.t.Errorf("router: update query %q, want tok=%q and family only", q, s.token)
		}
		if r.PostFormValue("remote") != s.remote || r.PostFormValue("note") != s.password {
			s.t.Errorf("router: update form %q", r.PostForm)
		}
		s.updated.Add(1)
		w.Write([]byte(`{"ok":true}`))
	default:
		s.t.Errorf("router: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

// TestHTTPTemplateValuesEscaped: each value is escaped for where it goes — inside a JSON
// string, a URL path segment, a query value, a form value — so quotes, slashes and
// ampersands in a password, a peer var or a captured token stay one value (issue 11,
// point 14).
func TestHTTPTemplateValuesEscaped(t *testing.T) {
	ui := &strictRouter{t: t, password: `pa"ss\word&x=1 {{.Peer}}`, token: "t&admin=1#frag", peerName: "a/b?c d", remote: "198.51.100.10"}
	srv := httptest.NewServer(ui)
	defer srv.Close()
	d, err := NewHTTP(HTTPConfig{
		BaseURL: srv.URL, Username: "admin", Password: ui.password,
		Peers: map[site.Peer]map[string]string{{Site: "bj"}: {"name": ui.peerName}},
		Login: []HTTPRequest{{Method: "POST", Path: "/api/login", JSON: `{"user":"{{.Username}}","pass":"{{.Password}}"}`,
			Capture: []HTTPCapture{{Name: "token", JSON: "token"}}}},
		Update: []HTTPRequest{{Method: "POST", Path: "/api/peer/{{.Vars.name}}?tok={{.Captured.token}}&family={{.Family}}",
			Form: map[string]string{"remote": "{{.PeerIP}}", "note": "{{.Password}}"}, ExpectBody: `"ok":true`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(context.Background(), change("bj", 4, ui.remote)); err != nil {
		t.Fatal(err)
	}
	if n := ui.updated.Load(); n != 1 {
		t.Errorf("got %d updates, want 1", n)
	}
}

// TestHTTPRedirectToAnotherHostRefused: a login answered with a redirect to another host
// is not followed, so neither the session nor the credentials leave the router; a
// redirect within the router is still followed (issue 11, point 14).
func TestHTTPRedirectToAnotherHostRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write([]byte("ok"))
	}))
	defer other.Close()
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "session-secret"})
			http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
		case "/home":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/ok":
			w.Write([]byte("ok"))
		default:
			t.Errorf("router: unexpected %s %s", r.Method, r.URL)
		}
	}))
	defer router.Close()
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{name: "to another host", path: "/login", wantErr: true},
		{name: "within the router", path: "/home"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewHTTP(HTTPConfig{BaseURL: router.URL, Username: "admin", Password: "router-pw",
				Login:  []HTTPRequest{{Method: "POST", Path: tc.path, Form: map[string]string{"pass": "{{.Password}}"}}},
				Update: []HTTPRequest{{Method: "GET", Path: "/ok"}}})
			if err != nil {
				t.Fatal(err)
			}
			err = d.Apply(context.Background(), change("bj", 4, "198.51.100.10"))
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrRedirectElsewhere) || !strings.Contains(err.Error(), "login[0] /login: redirect to another host refused ("+other.URL+")") {
				t.Errorf("got %v, want ErrRedirectElsewhere naming the step and host", err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the other host got %d requests, want 0", n)
			}
		})
	}
}
