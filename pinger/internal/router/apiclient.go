package router

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient is the HTTP part shared by the drivers of routers with a JSON API (routeros,
// opnsense, vyos, fortigate): requests relative to the router's base URL with the driver's
// authentication, answers read up to 1 MiB, and errors that carry neither the URL (it
// may hold a VDOM or a key) nor a request body.
type apiClient struct {
	base string
	hc   *http.Client
	auth func(*http.Request)
}

// newAPIClient checks rawURL (http(s)://host[:port][/prefix], no credentials) and builds
// the client; hc replaces the one built from tls and timeout (tests). Its copy of the
// client follows redirects only within rawURL's scheme and host, so the driver's
// credentials (a header, or VyOS's key in the form a 307 would send again) stay with the
// router.
func newAPIClient(rawURL string, tls TLSConfig, timeout time.Duration, hc *http.Client, auth func(*http.Request)) (*apiClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, errors.New("url must be http(s)://host[:port] without credentials or query")
	}
	if hc == nil {
		if hc, err = newHTTPClient(tls, timeout); err != nil {
			return nil, err
		}
	}
	session := *hc
	session.CheckRedirect = sameHostRedirects(u)
	return &apiClient{base: strings.TrimSuffix(u.String(), "/"), hc: &session, auth: auth}, nil
}

// do sends one request, its body as contentType (JSON when empty), and returns the status
// and body of the answer. A transport failure wraps ErrApply; the status is the caller's
// to judge.
func (a *apiClient) do(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrApply, err)
	}
	a.auth(req)
	if body != nil {
		req.Header.Set("Content-Type", cmp.Or(contentType, "application/json"))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known to the caller
		}
		return 0, nil, fmt.Errorf("%w: %w", ErrApply, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrApply, err)
	}
	return resp.StatusCode, raw, nil
}

// checkName refuses an object name that cannot be a router object's name: empty, too
// long, or with characters that would change a URL path or a command line.
func checkName(what, name string) error {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/?#%\\\"' \t\r\n") || strings.HasPrefix(name, "-") {
		return fmt.Errorf("bad %s %q", what, name)
	}
	return nil
}
