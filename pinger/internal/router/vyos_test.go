package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

const vyosKey = "vyos-api-key-89ab"

// fakeVyOS models the VyOS HTTP API the driver uses: a configuration tree (leaf values are
// strings, multi-value leaves lists) with a running and a saved (boot) copy; /retrieve
// showConfig, /configure with one op or a list committed together (set appends to a
// multi-value leaf, delete of a missing node fails, a value set under a node that does not
// exist fails the commit) and /config-file save. The key is a form field.
type fakeVyOS struct {
	t             *testing.T
	mu            sync.Mutex
	running       map[string]any
	saved         map[string]any
	commits, save int
}

func newFakeVyOS(t *testing.T) *fakeVyOS {
	tree := map[string]any{
		"vpn": map[string]any{"ipsec": map[string]any{"site-to-site": map[string]any{"peer": map[string]any{
			"to-bj": map[string]any{"remote-address": "198.51.100.9", "authentication": map[string]any{"mode": "pre-shared-secret"}, "ike-group": "IKE"},
			"to-sh": map[string]any{"remote-address": []any{"192.0.2.1", "192.0.2.2"}, "ike-group": "IKE"},
		}}}},
		"interfaces": map[string]any{"wireguard": map[string]any{"wg0": map[string]any{"peer": map[string]any{
			"gz": map[string]any{"public-key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "port": "51820", "allowed-ips": "10.3.0.0/24"},
		}}}},
	}
	return &fakeVyOS{t: t, running: tree, saved: deepCopy(tree).(map[string]any)}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		return append([]any{}, x...)
	}
	return v
}

func vyosAnswer(w http.ResponseWriter, status int, data any, errText string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var e any
	if errText != "" {
		e = errText
	}
	json.NewEncoder(w).Encode(map[string]any{"success": errText == "", "data": data, "error": e})
}

// multi lists the multi-value leaves the fake knows.
var vyosMulti = map[string]bool{"remote-address": true}

func (f *fakeVyOS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost {
		f.t.Errorf("vyos: %s %s: the API takes POST only", r.Method, r.URL)
		vyosAnswer(w, 405, nil, "Method Not Allowed")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("key") != vyosKey {
		vyosAnswer(w, 401, nil, "Valid API key is required")
		return
	}
	raw := r.PostForm.Get("data")
	switch r.URL.Path {
	case "/retrieve":
		var op vyosOp
		if err := json.Unmarshal([]byte(raw), &op); err != nil || op.Op != "showConfig" {
			f.t.Errorf("vyos: unexpected /retrieve data %s", raw)
			vyosAnswer(w, 400, nil, "invalid op")
			return
		}
		node, ok := lookup(f.running, op.Path)
		if !ok {
			vyosAnswer(w, 400, nil, "Configuration under specified path is empty\n")
			return
		}
		vyosAnswer(w, 200, node, "")
	case "/configure":
		var ops []vyosOp
		if err := json.Unmarshal([]byte(raw), &ops); err != nil {
			var one vyosOp
			if err := json.Unmarshal([]byte(raw), &one); err != nil {
				vyosAnswer(w, 400, nil, "Invalid request data")
				return
			}
			ops = []vyosOp{one}
		}
		cand := deepCopy(f.running).(map[string]any)
		for _, op := range ops {
			if err := applyVyOSOp(cand, op); err != "" {
				vyosAnswer(w, 400, nil, err)
				return
			}
		}
		f.running = cand
		f.commits++
		vyosAnswer(w, 200, nil, "")
	case "/config-file":
		var op vyosOp
		if err := json.Unmarshal([]byte(raw), &op); err != nil || op.Op != "save" {
			f.t.Errorf("vyos: unexpected /config-file data %s", raw)
			vyosAnswer(w, 400, nil, "invalid op")
			return
		}
		f.saved = deepCopy(f.running).(map[string]any)
		f.save++
		vyosAnswer(w, 200, "Saving configuration to '/config/config.boot'...\nDone\n", "")
	default:
		f.t.Errorf("vyos: unexpected POST %s", r.URL.Path)
		vyosAnswer(w, 404, nil, "Not Found")
	}
}

func lookup(tree map[string]any, path []string) (any, bool) {
	var node any = tree
	for _, p := range path {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[p]; !ok {
			return nil, false
		}
	}
	return node, true
}

func applyVyOSOp(tree map[string]any, op vyosOp) string {
	if len(op.Path) < 2 {
		return "path too short"
	}
	switch op.Op {
	case "delete":
		parent, ok := lookup(tree, op.Path[:len(op.Path)-1])
		m, isMap := parent.(map[string]any)
		if !ok || !isMap {
			return "Nothing to delete"
		}
		if _, ok := m[op.Path[len(op.Path)-1]]; !ok {
			return "Nothing to delete"
		}
		delete(m, op.Path[len(op.Path)-1])
	case "set":
		leaf, value := op.Path[len(op.Path)-2], op.Path[len(op.Path)-1]
		parent, ok := lookup(tree, op.Path[:len(op.Path)-2])
		m, isMap := parent.(map[string]any)
		if !ok || !isMap {
			return "Commit failed: the node " + strings.Join(op.Path[:len(op.Path)-2], " ") + " is not configured"
		}
		if leaf == "remote-address" || leaf == "address" {
			if _, err := netip.ParseAddr(value); err != nil {
				return "Invalid value for " + leaf
			}
		}
		switch cur := m[leaf].(type) {
		case string:
			if vyosMulti[leaf] {
				m[leaf] = []any{cur, value}
			} else {
				m[leaf] = value
			}
		case []any:
			m[leaf] = append(cur, value)
		default:
			m[leaf] = value
		}
	default:
		return "invalid op " + op.Op
	}
	return ""
}

func newVyOSDriver(t *testing.T, url, key string, save bool, tls TLSConfig) *VyOS {
	t.Helper()
	d, err := NewVyOS(VyOSConfig{
		URL: url, Key: key, Save: save, TLS: tls,
		Peers: map[site.Peer]VyOSPeer{
			{Site: "bj"}:   {IPsecPeer: "to-bj"},
			{Site: "sh"}:   {IPsecPeer: "to-sh"},
			{Site: "gz"}:   {WireGuardInterface: "wg0", WireGuardPeer: "gz"},
			{Site: "gone"}: {IPsecPeer: "to-gone"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVyOSApply(t *testing.T) {
	f := newFakeVyOS(t)
	tr := &traceRecorder{next: f, secrets: []string{vyosKey}}
	srv := httptest.NewServer(tr)
	defer srv.Close()
	d := newVyOSDriver(t, srv.URL, vyosKey, true, TLSConfig{})
	for _, c := range []Change{change("bj", 4, "198.51.100.10"), change("sh", 4, "192.0.2.3"), change("gz", 4, "203.0.113.5"), change("bj", 4, "198.51.100.10")} {
		if !d.Wants(c) {
			t.Fatalf("Wants(%v) = false", c)
		}
		if err := d.Apply(context.Background(), c); err != nil {
			t.Fatalf("Apply(%v): %v", c, err)
		}
	}
	want := map[string]any{
		"vpn ipsec site-to-site peer to-bj remote-address": "198.51.100.10",
		"vpn ipsec site-to-site peer to-sh remote-address": "192.0.2.3",
		"interfaces wireguard wg0 peer gz address":         "203.0.113.5",
		"interfaces wireguard wg0 peer gz port":            "51820",
	}
	for path, v := range want {
		for name, tree := range map[string]map[string]any{"running": f.running, "saved": f.saved} {
			got, _ := lookup(tree, strings.Fields(path))
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s %s = %v, want %v", name, path, got, v)
			}
		}
	}
	if f.commits != 3 || f.save != 3 {
		t.Errorf("got %d commits and %d saves, want 3 and 3 (the last change was already there)", f.commits, f.save)
	}
	golden(t, "vyos/apply.trace", tr.bytes())
}

func TestVyOSWithoutSaveLeavesBootConfig(t *testing.T) {
	f := newFakeVyOS(t)
	srv := httptest.NewServer(f)
	defer srv.Close()
	if err := newVyOSDriver(t, srv.URL, vyosKey, false, TLSConfig{}).Apply(context.Background(), change("bj", 4, "198.51.100.10")); err != nil {
		t.Fatal(err)
	}
	if got, _ := lookup(f.saved, strings.Fields("vpn ipsec site-to-site peer to-bj remote-address")); got != "198.51.100.9" || f.save != 0 {
		t.Errorf("boot config has %v after %d saves, want the old address and no save", got, f.save)
	}
}

func TestVyOSFailures(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		change Change
		want   error
		text   string
	}{
		{name: "wrong key", key: "wrong-key", change: change("bj", 4, "192.0.2.9"), want: ErrApply, text: "HTTP 401: Valid API key is required"},
		{name: "unknown peer", key: vyosKey, change: change("gone", 4, "192.0.2.9"), want: ErrNotFound, text: "peer to-gone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVyOS(t)
			srv := httptest.NewServer(f)
			defer srv.Close()
			err := newVyOSDriver(t, srv.URL, tc.key, true, TLSConfig{}).Apply(context.Background(), tc.change)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %s", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q contains the key", err)
			}
			if f.commits != 0 {
				t.Errorf("got %d commits, want 0", f.commits)
			}
		})
	}
}

func TestVyOSTLS(t *testing.T) {
	testDriverTLS(t, newFakeVyOS(t), func(url string, tls TLSConfig) Driver {
		return newVyOSDriver(t, url, vyosKey, false, tls)
	}, change("bj", 4, "198.51.100.11"))
}

func TestNewVyOSRefusesBadConfig(t *testing.T) {
	peers := map[site.Peer]VyOSPeer{{Site: "bj"}: {IPsecPeer: "to-bj"}}
	tests := []struct {
		name string
		cfg  VyOSConfig
		text string
	}{
		{name: "no url", cfg: VyOSConfig{Key: "k", Peers: peers}, text: "url must be"},
		{name: "no key", cfg: VyOSConfig{URL: "https://r", Peers: peers}, text: "api_key_file"},
		{name: "no peers", cfg: VyOSConfig{URL: "https://r", Key: "k"}, text: "no peers"},
		{name: "both objects", cfg: VyOSConfig{URL: "https://r", Key: "k", Peers: map[site.Peer]VyOSPeer{{Site: "bj"}: {IPsecPeer: "a", WireGuardInterface: "wg0", WireGuardPeer: "b"}}}, text: "either"},
		{name: "wireguard peer without interface", cfg: VyOSConfig{URL: "https://r", Key: "k", Peers: map[site.Peer]VyOSPeer{{Site: "bj"}: {WireGuardPeer: "b"}}}, text: "either"},
		{name: "bad name", cfg: VyOSConfig{URL: "https://r", Key: "k", Peers: map[site.Peer]VyOSPeer{{Site: "bj"}: {IPsecPeer: "to bj"}}}, text: "bad ipsec_peer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVyOS(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.text)
			}
		})
	}
}
