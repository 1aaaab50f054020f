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
	"github.com/ppter/ppter/shared/wire"
)

// fakeRouterOS implements the RouterOS v7 REST shapes the driver relies on, keeps the
// objects' state and fails the test on any request it does not know.
type fakeRouterOS struct {
	t       *testing.T
	mu      sync.Mutex
	menus   map[string][]map[string]string // "/ip/ipsec/peer" → items
	patches int
}

func newFakeRouterOS(t *testing.T) (*fakeRouterOS, *httptest.Server) {
	f := &fakeRouterOS{t: t, menus: map[string][]map[string]string{
		"/ip/ipsec/peer": {
			{".id": "*1", "name": "to-bj", "address": "198.51.100.9/32", "exchange-mode": "ike2", "disabled": "false"},
			{".id": "*2", "name": "dup", "address": "192.0.2.1/32"},
			{".id": "*3", "name": "dup", "address": "192.0.2.2/32"},
		},
		"/interface/wireguard/peers": {
			{".id": "*A", "name": "sh", "interface": "wg0", "endpoint-address": "", "endpoint-port": "13231"},
		},
	}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func rosError(w http.ResponseWriter, status int, msg, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": status, "message": msg, "detail": detail})
}

func (f *fakeRouterOS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != "ppter" || p != "router-pw" {
		rosError(w, 401, "Unauthorized", "")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/rest")
	if !ok {
		f.t.Errorf("routeros: request outside /rest: %s", r.URL.Path)
		rosError(w, 404, "Not Found", "")
		return
	}
	for menu, items := range f.menus {
		switch {
		case path == menu && r.Method == http.MethodGet:
			q := r.URL.Query()
			for k := range q {
				if k != "name" {
					f.t.Errorf("routeros: unexpected query %q", k)
				}
			}
			out := []map[string]string{}
			for _, it := range items {
				if name := q.Get("name"); name == "" || it["name"] == name {
					out = append(out, it)
				}
			}
			json.NewEncoder(w).Encode(out)
			return
		case strings.HasPrefix(path, menu+"/") && r.Method == http.MethodPatch:
			id := strings.TrimPrefix(path, menu+"/")
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				f.t.Errorf("routeros: PATCH with Content-Type %q", ct)
			}
			var body map[string]string
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				rosError(w, 400, "Bad Request", "JSON: "+err.Error())
				return
			}
			for _, it := range items {
				if it[".id"] != id {
					continue
				}
				for k, v := range body {
					if _, known := it[k]; !known || k == ".id" {
						f.t.Errorf("routeros: PATCH of unknown or read-only field %q", k)
						rosError(w, 400, "Bad Request", "unknown parameter "+k)
						return
					}
					if k == "address" || k == "endpoint-address" {
						if _, err := netip.ParseAddr(v); err != nil {
							rosError(w, 400, "Bad Request", "invalid value for argument "+k)
							return
						}
						if k == "address" {
							v += "/32" // RouterOS stores the peer address as a prefix
						}
					}
					it[k] = v
				}
				f.patches++
				json.NewEncoder(w).Encode(it)
				return
			}
			rosError(w, 404, "Not Found", "no such item")
			return
		}
	}
	f.t.Errorf("routeros: unexpected %s %s", r.Method, r.URL)
	rosError(w, 400, "Bad Request", "unknown command")
}

func (f *fakeRouterOS) field(menu, name, field string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range f.menus[menu] {
		if it["name"] == name {
			return it[field]
		}
	}
	return ""
}

func newRouterOS(t *testing.T, url, password string) *RouterOS {
	d, err := NewRouterOS(RouterOSConfig{
		URL: url, Username: "ppter", Password: password,
		Peers: map[site.Peer]RouterOSPeer{
			{Site: "bj"}:  {IPsecPeer: "to-bj"},
			{Site: "sh"}:  {WireGuardPeer: "sh"},
			{Site: "gz"}:  {IPsecPeer: "missing"},
			{Site: "dup"}: {IPsecPeer: "dup"},
			{Site: "six"}: {IPsecPeer: "to-bj", Family: 6},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func change(peer site.Name, family wire.Family, ip string) Change {
	return Change{Peer: peer, Family: family, New: netip.MustParseAddr(ip)}
}

func TestRouterOSApply(t *testing.T) {
	tests := []struct {
		name        string
		change      Change
		menu, item  string
		field, want string
		patches     int
	}{
		{name: "ipsec peer address", change: change("bj", 4, "198.51.100.10"), menu: "/ip/ipsec/peer", item: "to-bj", field: "address", want: "198.51.100.10/32", patches: 1},
		{name: "ipsec peer already there", change: change("bj", 4, "198.51.100.9"), menu: "/ip/ipsec/peer", item: "to-bj", field: "address", want: "198.51.100.9/32", patches: 0},
		{name: "wireguard endpoint", change: change("sh", 4, "192.0.2.77"), menu: "/interface/wireguard/peers", item: "sh", field: "endpoint-address", want: "192.0.2.77", patches: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeRouterOS(t)
			d := newRouterOS(t, srv.URL, "router-pw")
			if !d.Wants(tc.change) {
				t.Fatal("Wants = false")
			}
			if err := d.Apply(context.Background(), tc.change); err != nil {
				t.Fatal(err)
			}
			if got := f.field(tc.menu, tc.item, tc.field); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.field, got, tc.want)
			}
			if f.patches != tc.patches {
				t.Errorf("got %d PATCHes, want %d", f.patches, tc.patches)
			}
			// Applying the same change again is a no-op.
			if err := d.Apply(context.Background(), tc.change); err != nil {
				t.Fatal(err)
			}
			if f.patches != tc.patches {
				t.Errorf("re-apply PATCHed again")
			}
		})
	}
}

func TestRouterOSFailures(t *testing.T) {
	tests := []struct {
		name     string
		password string
		change   Change
		want     error
		text     string
	}{
		{name: "unknown peer object", password: "router-pw", change: change("gz", 4, "192.0.2.9"), want: ErrNotFound, text: `"missing"`},
		{name: "ambiguous name", password: "router-pw", change: change("dup", 4, "192.0.2.9"), want: ErrApply, text: "2 entries"},
		{name: "wrong password", password: "wrong-pw", change: change("bj", 4, "192.0.2.9"), want: ErrApply, text: "HTTP 401: Unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeRouterOS(t)
			err := newRouterOS(t, srv.URL, tc.password).Apply(context.Background(), tc.change)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %s", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q contains the password", err)
			}
			if f.patches != 0 {
				t.Errorf("got %d PATCHes, want 0", f.patches)
			}
		})
	}
}

func TestRouterOSUnreachable(t *testing.T) {
	_, srv := newFakeRouterOS(t)
	d := newRouterOS(t, srv.URL, "router-pw")
	srv.Close()
	if err := d.Apply(context.Background(), change("bj", 4, "192.0.2.9")); !errors.Is(err, ErrApply) {
		t.Fatalf("got %v, want ErrApply", err)
	}
}

func TestRouterOSWants(t *testing.T) {
	d := newRouterOS(t, "https://192.0.2.1", "pw")
	tests := []struct {
		name string
		c    Change
		want bool
	}{
		{name: "mapped ipv4", c: change("bj", 4, "192.0.2.9"), want: true},
		{name: "mapped but ipv6", c: change("bj", 6, "2001:db8::9"), want: false},
		{name: "mapped for ipv6", c: change("six", 6, "2001:db8::9"), want: true},
		{name: "unmapped", c: change("xx", 4, "192.0.2.9"), want: false},
		{name: "self", c: Change{Peer: "bj", Self: true, Family: 4}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.Wants(tc.c); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewRouterOSRefusesBadConfig(t *testing.T) {
	peers := map[site.Peer]RouterOSPeer{{Site: "bj"}: {IPsecPeer: "to-bj"}}
	tests := []struct {
		name string
		cfg  RouterOSConfig
	}{
		{name: "no url", cfg: RouterOSConfig{Username: "u", Peers: peers}},
		{name: "credentials in url", cfg: RouterOSConfig{URL: "https://u:p@r", Username: "u", Peers: peers}},
		{name: "no username", cfg: RouterOSConfig{URL: "https://r", Peers: peers}},
		{name: "no peers", cfg: RouterOSConfig{URL: "https://r", Username: "u"}},
		{name: "both objects", cfg: RouterOSConfig{URL: "https://r", Username: "u", Peers: map[site.Peer]RouterOSPeer{{Site: "bj"}: {IPsecPeer: "a", WireGuardPeer: "b"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRouterOS(tc.cfg); err == nil {
				t.Fatal("got nil error")
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestRouterOSRedirectElsewhereRefused: a redirect off the router (here to another host)
// is not followed, so the Basic credentials never travel there.
func TestRouterOSRedirectElsewhereRefused(t *testing.T) {
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere++
		w.Write([]byte(`[]`))
	}))
	defer other.Close()
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer router.Close()
	err := newRouterOS(t, router.URL, "router-pw").Apply(context.Background(), change("bj", 4, "198.51.100.10"))
	if !errors.Is(err, ErrRedirectElsewhere) || !errors.Is(err, ErrApply) {
		t.Errorf("got %v, want ErrApply and ErrRedirectElsewhere", err)
	}
	if elsewhere != 0 {
		t.Errorf("the other host got %d requests, want 0", elsewhere)
	}
}
