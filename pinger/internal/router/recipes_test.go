package router

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ppter/ppter/shared/site"
)

// loadRecipe reads a recipe of pinger/contrib/recipes as the pinger reads its --config
// file (unknown keys are errors) and points it at a fake.
func loadRecipe(t *testing.T, name, baseURL, password string) HTTPConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "contrib", "recipes", name))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		HTTP HTTPConfig `yaml:"http"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cfg := file.HTTP
	cfg.BaseURL, cfg.Password, cfg.TLS = baseURL, password, TLSConfig{}
	return cfg
}

// fakeIKuai speaks the iKuai web UI requests the recipe makes: a login with the MD5 of
// the password setting the sess_key cookie, then /Action/call show and edit of IPsec
// policies, only with a live session. It keeps the policies; anything else fails the test.
type fakeIKuai struct {
	t        *testing.T
	mu       sync.Mutex
	sessions map[string]bool
	policies []map[string]any
	edits    int
}

const ikuaiPassword = "ikuai-admin-pw"

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newFakeIKuai(t *testing.T) *fakeIKuai {
	return &fakeIKuai{t: t, sessions: map[string]bool{}, policies: []map[string]any{
		{"id": 1, "name": "to-bj", "remote_addr": "198.51.100.9", "enabled": "yes", "left_subnet": "192.168.9.0/24"},
		{"id": 2, "name": "to-sh", "remote_addr": "192.0.2.1", "enabled": "yes", "left_subnet": "192.168.9.0/24"},
	}}
}

func ikuaiAnswer(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeIKuai) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("ikuai: unexpected %s %s (%s)", r.Method, r.URL, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", 400)
		return
	}
	switch r.URL.Path {
	case "/Action/login":
		var in map[string]string
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			f.t.Errorf("ikuai: login body: %v", err)
		}
		if in["username"] != "admin" || in["passwd"] != md5hex(ikuaiPassword) {
			ikuaiAnswer(w, map[string]any{"Result": 10001, "ErrMsg": "用户名或密码错误"})
			return
		}
		key := md5hex(in["passwd"] + "session")[:16]
		f.sessions[key] = true
		http.SetCookie(w, &http.Cookie{Name: "sess_key", Value: key, Path: "/"})
		ikuaiAnswer(w, map[string]any{"Result": 10000, "ErrMsg": "Success"})
	case "/Action/call":
		if ck, err := r.Cookie("sess_key"); err != nil || !f.sessions[ck.Value] {
			ikuaiAnswer(w, map[string]any{"Result": 10014, "ErrMsg": "no login authentication"})
			return
		}
		var in struct {
			FuncName string         `json:"func_name"`
			Action   string         `json:"action"`
			Param    map[string]any `json:"param"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.FuncName != "ipsec2_policy" {
			f.t.Errorf("ikuai: unexpected call %+v (%v)", in, err)
			ikuaiAnswer(w, map[string]any{"Result": 30001, "ErrMsg": "unknown func_name"})
			return
		}
		switch in.Action {
		case "show":
			if in.Param["FINDS"] != "name" {
				f.t.Errorf("ikuai: show without a name search: %v", in.Param)
			}
			kw, _ := in.Param["KEYWORDS"].(string)
			data := []any{}
			for _, p := range f.policies {
				if strings.Contains(p["name"].(string), kw) {
					data = append(data, p)
				}
			}
			ikuaiAnswer(w, map[string]any{"Result": 30000, "ErrMsg": "Success", "Data": map[string]any{"total": len(data), "data": data}})
		case "edit":
			id, _ := in.Param["id"].(float64)
			for _, p := range f.policies {
				if float64(p["id"].(int)) != id {
					continue
				}
				for k, v := range in.Param {
					if _, known := p[k]; !known {
						f.t.Errorf("ikuai: edit of unknown field %q", k)
					}
					if s, _ := v.(string); k == "remote_addr" {
						if _, err := netip.ParseAddr(s); err != nil {
							ikuaiAnswer(w, map[string]any{"Result": 30001, "ErrMsg": "remote_addr invalid"})
							return
						}
					}
				}
				p["remote_addr"] = in.Param["remote_addr"]
				f.edits++
				ikuaiAnswer(w, map[string]any{"Result": 30000, "ErrMsg": "Success"})
				return
			}
			ikuaiAnswer(w, map[string]any{"Result": 30001, "ErrMsg": "id not found"})
		default:
			f.t.Errorf("ikuai: unexpected action %q", in.Action)
			ikuaiAnswer(w, map[string]any{"Result": 30001, "ErrMsg": "unknown action"})
		}
	default:
		f.t.Errorf("ikuai: unexpected path %s", r.URL.Path)
		http.NotFound(w, r)
	}
}

// fakeTPLinkER speaks the LuCI JSON requests of the TP-Link ER recipe: login returning a
// stok, the IPsec policy form under that stok, logout ending it. It keeps the policies
// and the live sessions; anything else fails the test.
type fakeTPLinkER struct {
	t        *testing.T
	mu       sync.Mutex
	stoks    map[string]bool
	policies map[string]string // name → remote gateway
	sets     int
}

const tplinkPassword = "0f3a…rsa-ciphertext-as-the-browser-sends-it"

func newFakeTPLinkER(t *testing.T) *fakeTPLinkER {
	return &fakeTPLinkER{t: t, stoks: map[string]bool{}, policies: map[string]string{"to-bj": "198.51.100.9", "to-sh": "192.0.2.1"}}
}

func luci(w http.ResponseWriter, code int, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"error_code": code, "result": result})
}

func (f *fakeTPLinkER) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var in struct {
		Method string            `json:"method"`
		Params map[string]string `json:"params"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
		f.t.Errorf("tplink: unexpected %s %s", r.Method, r.URL)
		luci(w, -1, nil)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/cgi-bin/luci/;stok=")
	stok, page, _ := strings.Cut(rest, "/")
	form := r.URL.Query().Get("form")
	switch {
	case ok && stok == "" && page == "login" && form == "login" && in.Method == "login":
		if in.Params["username"] != "admin" || in.Params["password"] != tplinkPassword {
			luci(w, -20601, map[string]any{"errorcode": "login failed"})
			return
		}
		s := md5hex(tplinkPassword)[:12]
		f.stoks[s] = true
		luci(w, 0, map[string]any{"stok": s})
	case ok && !f.stoks[stok]:
		luci(w, -40401, nil) // session expired or never logged in
	case page == "admin/ipsec" && form == "policy" && in.Method == "set":
		name := in.Params["name"]
		if _, known := f.policies[name]; !known {
			luci(w, -1, nil)
			return
		}
		a, err := netip.ParseAddr(in.Params["remote_gateway"])
		if err != nil {
			luci(w, -1, nil)
			return
		}
		f.policies[name] = a.String()
		f.sets++
		luci(w, 0, map[string]any{})
	case page == "admin/system" && form == "logout" && in.Method == "set":
		delete(f.stoks, stok)
		luci(w, 0, map[string]any{})
	default:
		f.t.Errorf("tplink: unexpected %s %s method %q", r.Method, r.URL, in.Method)
		luci(w, -1, nil)
	}
}

func TestRecipeIKuai(t *testing.T) {
	tests := []struct {
		name     string
		password string
		peer     string
		wantErr  string
	}{
		{name: "sets the policy's remote address", password: md5hex(ikuaiPassword), peer: "bj"},
		{name: "wrong password", password: md5hex("wrong"), peer: "bj", wantErr: "login[0] /Action/login: answer does not match expect_body"},
		{name: "plain password instead of its md5", password: ikuaiPassword, peer: "bj", wantErr: "login[0]"},
		{name: "unknown policy", password: md5hex(ikuaiPassword), peer: "gz", wantErr: "capture id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIKuai(t)
			tr := &traceRecorder{next: f, secrets: []string{md5hex(ikuaiPassword)}}
			srv := httptest.NewServer(tr)
			defer srv.Close()
			cfg := loadRecipe(t, "ikuai.yaml", srv.URL, tc.password)
			cfg.Peers[site.Peer{Site: "gz"}] = map[string]string{"policy": "to-gz"}
			d, err := NewHTTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Apply(context.Background(), change(site.Name(tc.peer), 4, "198.51.100.10"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error mentioning %q", err, tc.wantErr)
				}
				if f.edits != 0 {
					t.Errorf("got %d edits, want 0", f.edits)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.policies[0]["remote_addr"]; got != "198.51.100.10" {
				t.Errorf("to-bj remote_addr = %v, want 198.51.100.10", got)
			}
			if got := f.policies[1]["remote_addr"]; got != "192.0.2.1" {
				t.Errorf("to-sh changed to %v", got)
			}
			golden(t, "recipes/ikuai.trace", tr.bytes())
		})
	}
}

func TestRecipeTPLinkER(t *testing.T) {
	tests := []struct {
		name     string
		password string
		wantErr  string
	}{
		{name: "sets the policy's remote gateway and logs out", password: tplinkPassword},
		{name: "wrong password", password: "plain-password", wantErr: "login[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTPLinkER(t)
			tr := &traceRecorder{next: f, secrets: []string{tplinkPassword}}
			srv := httptest.NewServer(tr)
			defer srv.Close()
			d, err := NewHTTP(loadRecipe(t, "tplink-er.yaml", srv.URL, tc.password))
			if err != nil {
				t.Fatal(err)
			}
			err = d.Apply(context.Background(), change("bj", 4, "198.51.100.10"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error mentioning %q", err, tc.wantErr)
				}
				if f.sets != 0 {
					t.Errorf("got %d sets, want 0", f.sets)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.policies["to-bj"] != "198.51.100.10" || f.policies["to-sh"] != "192.0.2.1" {
				t.Errorf("policies = %v, want only to-bj changed", f.policies)
			}
			if len(f.stoks) != 0 {
				t.Errorf("%d admin sessions left open", len(f.stoks))
			}
			golden(t, "recipes/tplink-er.trace", tr.bytes())
		})
	}
}
