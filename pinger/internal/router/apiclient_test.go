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
