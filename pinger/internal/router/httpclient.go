package router

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
		tc.InsecureSkipVerify = true // explicit opt-in (insecure_skip_verify) for routers with self-signed certificates
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // router admin pages are on the LAN
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// ErrRedirectElsewhere means a router answered a redirect to another host (or scheme):
// the HTTP drivers never follow one, so a login, its cookies and Basic credentials stay
// with the router (and never drop from https to http).
var ErrRedirectElsewhere = errors.New("redirect to another host refused")

// sameHostRedirects returns a redirect policy that follows a router's redirects within
// base's scheme and host (a login answering 302 to /admin), at most 10 of them, and
// refuses any other.
func sameHostRedirects(base *url.URL) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != base.Scheme || req.URL.Host != base.Host {
			return fmt.Errorf("%w (%s://%s)", ErrRedirectElsewhere, req.URL.Scheme, req.URL.Host)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}
