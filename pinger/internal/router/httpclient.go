package router

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// TLSConfig is the TLS part of an HTTP-based driver's configuration. Verification is on
// by default; CAFile adds a router's self-signed certificate or its CA.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// newHTTPClient returns a client with timeout and the TLS settings of t.
func newHTTPClient(t TLSConfig, timeout time.Duration) (*http.Client, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.InsecureSkipVerify {
		tc.InsecureSkipVerify = true //nolint:gosec // explicit opt-in for routers with self-signed certificates
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // router admin pages are on the LAN
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
