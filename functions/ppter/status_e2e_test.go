package main_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	f := start(t, "admin: { token: \""+token+"\" }\n")
	f.ping(t, "hz", keyHZ, "203.0.113.7")
	f.ping(t, "hz", keyHZ, "203.0.113.9")
	get := func(authz, accept, query string) (int, http.Header, string) {
		t.Helper()
		hr, _ := http.NewRequest("GET", f.emu.URL+"/v1/status"+query, nil)
		if authz != "" {
			hr.Header.Set("Authorization", authz)
		}
		if accept != "" {
			hr.Header.Set("Accept", accept)
		}
		hr.Header.Set("X-Fcemu-Source-Ip", "192.0.2.33")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, resp.Header, b.String()
	}
	code, h, body := get("Bearer "+token, "", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("status: %d %s %s", code, h.Get("Content-Type"), body)
	}
	var fl struct {
		Sites []struct {
			Name  string `json:"name"`
			IPv4  string `json:"ipv4"`
			Stale bool   `json:"stale"`
		} `json:"sites"`
		Events []struct {
			Kind, Detail string
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &fl); err != nil {
		t.Fatal(err)
	}
	if len(fl.Sites) != 3 || fl.Sites[1].Name != "hz" || fl.Sites[1].IPv4 != "203.0.113.9" || fl.Sites[1].Stale || !fl.Sites[0].Stale {
		t.Fatalf("sites = %+v", fl.Sites)
	}
	if len(fl.Events) != 2 || fl.Events[0].Detail != "ipv4 203.0.113.7 → 203.0.113.9" {
		t.Fatalf("events = %+v", fl.Events)
	}
	if _, _, body := get("Bearer "+token, "", "?events=1"); strings.Count(body, `"kind"`) != 1 {
		t.Fatalf("events=1 gave %s", body)
	}
	code, h, body = get("Bearer "+token, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "203.0.113.9") || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("html status: %d %s", code, h.Get("Content-Type"))
	}
	for _, tt := range []struct {
		name, authz, query string
		code               int
	}{
		{"no token", "", "", 401},
		{"wrong token", "Bearer nope", "", 401},
		{"site key is not the admin token", "Bearer " + keyHZ, "", 401},
		{"basic with a site key", "Basic " + base64.StdEncoding.EncodeToString([]byte("hz:"+keyHZ)), "", 401},
		{"bad events", "Bearer " + token, "?events=lots", 400},
	} {
		if code, _, body := get(tt.authz, "", tt.query); code != tt.code || strings.Contains(body, "203.0.113") {
			t.Errorf("%s: %d %s, want %d without fleet data", tt.name, code, body, tt.code)
		}
	}
}

func TestStatusDisabledWithoutToken(t *testing.T) {
	f := start(t, "")
	code, b, _ := f.do(t, req{method: "GET", path: "/v1/status", auth: "Bearer anything"})
	if code != 401 || !strings.Contains(string(b), "set admin.token") {
		t.Fatalf("got %d %s", code, b)
	}
}
