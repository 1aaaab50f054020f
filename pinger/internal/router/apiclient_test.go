package router

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeCAFile writes the certificate of a TLS test server as a PEM file.
func writeCAFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "router.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile
}

// testDriverTLS runs a driver against its fake behind TLS: refused without the router's
// certificate, accepted with it as ca_file.
func testDriverTLS(t *testing.T, fake http.Handler, build func(url string, tls TLSConfig) Driver, c Change) {
	t.Helper()
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	caFile := writeCAFile(t, srv)
	tests := []struct {
		name    string
		tls     TLSConfig
		wantErr bool
	}{
		{name: "verification on by default", wantErr: true},
		{name: "router certificate as ca_file", tls: TLSConfig{CAFile: caFile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := build(srv.URL, tc.tls).Apply(context.Background(), c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrApply) || !strings.Contains(err.Error(), "certificate")) {
				t.Errorf("got %v, want ErrApply about the certificate", err)
			}
			if err != nil && strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q names the URL", err)
			}
		})
	}
}

func TestNewAPIClientRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "192.168.1.1", "ftp://r", "https://u:p@r", "https://r/?key=x", "https://"} {
		t.Run(u, func(t *testing.T) {
			if _, err := newAPIClient(u, TLSConfig{}, 0, nil, func(*http.Request) {}); err == nil || !strings.Contains(err.Error(), "url must be") {
				t.Fatalf("got %v, want the url error", err)
			}
		})
	}
	if _, err := newAPIClient("https://r", TLSConfig{CAFile: "/nonexistent/ca.pem"}, 0, nil, func(*http.Request) {}); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("got %v, want a ca_file error", err)
	}
}

// TestAPIDriversRefuseRedirectElsewhere: every driver on apiClient follows a redirect
// within the router and refuses one to another host, so its credentials (a header, or
// VyOS's key in the form body a 307 sends again) never travel there.
func TestAPIDriversRefuseRedirectElsewhere(t *testing.T) {
	drivers := []struct {
		name  string
		build func(url string) Driver
	}{
		{"vyos", func(url string) Driver { return newVyOSDriver(t, url, vyosKey, false, TLSConfig{}) }},
		{"opnsense", func(url string) Driver { return newOPNsenseDriver(t, url, opnSecret, TLSConfig{}) }},
		{"fortigate", func(url string) Driver { return newFortiGateDriver(t, url, fortiToken, "", TLSConfig{}) }},
		{"routeros", func(url string) Driver { return newRouterOS(t, url, "router-pw") }},
	}
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			var elsewhere int
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				elsewhere++
				w.Write([]byte(`{}`))
			}))
			defer other.Close()
			router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}))
			defer router.Close()
			err := d.build(router.URL).Apply(context.Background(), change("bj", 4, "198.51.100.10"))
			if !errors.Is(err, ErrRedirectElsewhere) || !errors.Is(err, ErrApply) {
				t.Errorf("got %v, want ErrApply and ErrRedirectElsewhere", err)
			}
			if elsewhere != 0 {
				t.Errorf("the other host got %d requests, want 0", elsewhere)
			}
		})
	}
}

// TestAPIClientRedirects: a redirect within the router is followed, one to another host
// refused, whichever client the driver was given.
func TestAPIClientRedirects(t *testing.T) {
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	defer other.Close()
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/moved":
			http.Redirect(w, r, "/api/here", http.StatusTemporaryRedirect)
		case "/api/away":
			http.Redirect(w, r, other.URL+"/api/here", http.StatusTemporaryRedirect)
		case "/api/here":
			w.Write([]byte(`"here"`))
		}
	}))
	defer router.Close()
	for _, hc := range []*http.Client{nil, {}} {
		api, err := newAPIClient(router.URL+"/api", TLSConfig{}, 0, hc, func(*http.Request) {})
		if err != nil {
			t.Fatal(err)
		}
		if hc != nil && hc.CheckRedirect != nil {
			t.Error("newAPIClient changed the client it was given")
		}
		if status, body, err := api.do(context.Background(), http.MethodPost, "/moved", "", []byte(`{}`)); err != nil || status != 200 || string(body) != `"here"` {
			t.Errorf("redirect within the router: got %d %q %v, want 200 \"here\"", status, body, err)
		}
		if _, _, err := api.do(context.Background(), http.MethodPost, "/away", "", []byte(`{}`)); !errors.Is(err, ErrRedirectElsewhere) {
			t.Errorf("redirect to another host: got %v, want ErrRedirectElsewhere", err)
		}
	}
	if elsewhere != 0 {
		t.Errorf("the other host got %d requests, want 0", elsewhere)
	}
}
