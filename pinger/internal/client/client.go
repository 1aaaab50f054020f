// Package client is the pinger's signed HTTP client for the function's POST /v1/ping: it
// signs each request with the PPTER-HMAC-SHA256 scheme, dials over the requested address
// family, bounds every call with timeouts and sorts failures into named errors.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Errors returned (wrapped) by Ping. Callers map them to exit codes with errors.Is.
var (
	// ErrUnreachable means the function could not be reached (DNS, connect, TLS, timeout).
	ErrUnreachable = errors.New("function unreachable")
	// ErrServer means the function answered 5xx or an unreadable success answer.
	ErrServer = errors.New("function failed")
	// ErrRejected means the function refused the request: 401, 409 or 429.
	ErrRejected = errors.New("rejected by the function")
	// ErrRequest means any other 4xx: usually a wrong URL or an incompatible function.
	ErrRequest = errors.New("request refused by the function")
	// ErrRedirect means the function answered a redirect. The ping never follows one: the
	// answer must come from the URL the pinger was given, not wherever a 3xx points
	// (wrapped together with ErrRequest: fix --url).
	ErrRedirect = errors.New("function answered a redirect, which the pinger never follows")
	// ErrUnknownLine means the function answered unknown_line: the ping's line is not one
	// the site declares (a configuration error on one side; wraps ErrRequest).
	ErrUnknownLine = fmt.Errorf("%w: the line is not one of the site's lines in the function's config (fix --line or the site's lines)", ErrRequest)
	// ErrNoInterfaceBinding means Options.Interface was set on a system without
	// SO_BINDTODEVICE (not Linux).
	ErrNoInterfaceBinding = errors.New("cannot bind to an interface")
)

// Default timeouts.
const (
	DefaultTimeout = 30 * time.Second
	// DefaultHedgeAfter is when a second, independent ping joins one still unanswered.
	DefaultHedgeAfter = 3 * time.Second
	dialTimeout       = 10 * time.Second
	maxAnswerBytes    = 1 << 20
)

// Options configure a Client.
type Options struct {
	// BaseURL is the trigger's base URL, e.g. https://ppter.example.com (no /v1/ping).
	BaseURL *url.URL
	// Site and Secret are the site's credentials. Secret is never logged or put in errors.
	Site   site.Name
	Secret []byte
	// Family is the address family dialled (IPv4 when zero). Ignored when HTTPClient is set.
	Family wire.Family
	// Line is the site's line the ping reports (sent as the body's line; empty: the
	// site's default line).
	Line site.Line
	// Source makes the ping leave by one line: its source address and interface.
	// Ignored when HTTPClient is set.
	Source Source
	// Agent goes into the request body, e.g. "ppter-pinger/1.0.0".
	Agent string
	// Timeout bounds one whole request; DefaultTimeout when zero.
	Timeout time.Duration
	// HedgeAfter starts a second ping, on a new connection with a fresh nonce, when the
	// first has no answer after this long, and takes whichever answers first. A steady
	// ping is answered in milliseconds, so a silent one was most likely lost with the
	// office's previous address (the ISP changed it mid-request) and would otherwise hang
	// until Timeout. DefaultHedgeAfter when zero; negative disables.
	HedgeAfter time.Duration
	// HTTPClient replaces the client built from Family (tests inject transports with it).
	HTTPClient *http.Client
	// Now and Nonce replace the clock and nonce source (tests).
	Now   func() time.Time
	Nonce func() string
	// Clock is the correction of the local clock, shared by the process's clients (see
	// Ping); nil: the client's own, which logs nowhere.
	Clock *Clock
}

// Client pings the function.
type Client struct {
	opts Options
	hc   *http.Client
	url  string
	path string
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == nil || (opts.BaseURL.Scheme != "http" && opts.BaseURL.Scheme != "https") || opts.BaseURL.Host == "" {
		return nil, errors.New("client: base URL must be http:// or https:// with a host")
	}
	if opts.BaseURL.User != nil {
		return nil, errors.New("client: base URL must not carry credentials")
	}
	if err := site.Validate(string(opts.Site)); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if len(opts.Secret) == 0 {
		return nil, errors.New("client: empty secret")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.HedgeAfter == 0 {
		opts.HedgeAfter = DefaultHedgeAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Nonce == nil {
		opts.Nonce = auth.NewNonce
	}
	if opts.Clock == nil {
		opts.Clock = NewClock(nil)
	}
	var hc *http.Client
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	} else {
		t, err := NewTransport(opts.Family, opts.Source)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		hc = &http.Client{Transport: t}
	}
	hc.CheckRedirect = noRedirects
	u := *opts.BaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + wire.PathPing
	u.RawQuery, u.Fragment = "", ""
	return &Client{opts: opts, hc: hc, url: u.String(), path: u.EscapedPath()}, nil
}

// Source is where a ping leaves from: a line of a two-line office.
type Source struct {
	// Address, when valid, is the source address of the ping (of the ping's family).
	Address netip.Addr
	// Interface, when not empty, binds the ping's socket to that interface (Linux
	// SO_BINDTODEVICE); elsewhere NewTransport refuses it with ErrNoInterfaceBinding.
	Interface string
}

func (s Source) bound() bool { return s.Address.IsValid() || s.Interface != "" }

// NewTransport returns an HTTP transport that dials only over f, from src, with bounded
// connect, TLS and header timeouts, and no proxy (the function must see the office's own
// address). Over IPv6 it asks Linux for a stable source address, not a temporary privacy
// one (IPV6_ADDR_PREFERENCES): the address of a host, not of one of its connections.
func NewTransport(f wire.Family, src Source) (*http.Transport, error) {
	d, network, err := dialer(f, src)
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: 20 * time.Second,
		// Every ping dials afresh: a connection kept from the last cycle is bound to the
		// office's previous address, so after the ISP hands out a new one it would hang
		// until the timeout (or, through a NAT that keeps the mapping, report the old
		// address). The function must see the address the office has now.
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}, nil
}

// dialer returns the dialer of NewTransport's connections and the network it dials over f:
// from src's address, bound to src's interface, over IPv6 asking for a stable source
// address, and with src's bound resolver when src is bound.
func dialer(f wire.Family, src Source) (*net.Dialer, string, error) {
	ctl, err := control(src.Interface, f.Is(wire.IPv6))
	if err != nil {
		return nil, "", err
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: ctl}
	network := "tcp4"
	if f.Is(wire.IPv6) {
		network = "tcp6"
	}
	if src.Address.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.Address.AsSlice()}
	}
	if src.bound() {
		if d.Resolver, err = boundResolver(src); err != nil {
			return nil, "", err
		}
	}
	return d, network, nil
}

// boundResolver looks the function's host up by the line of src too (Go's own resolver,
// its queries bound to src's interface, and from src's address when the DNS server is
// of its family): a line's own DNS servers answer for that line, and a query that left
// by the other line would fail when that one is down. A loopback DNS server (dnsmasq on
// the router, systemd-resolved) is asked unbound: it forwards by its own routes.
func boundResolver(src Source) (*net.Resolver, error) {
	ctl, err := control(src.Interface, false)
	if err != nil {
		return nil, err
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, server string) (net.Conn, error) {
		d := net.Dialer{Timeout: dialTimeout}
		host, _, _ := net.SplitHostPort(server)
		ip, err := netip.ParseAddr(host)
		if ip = ip.Unmap(); err != nil || ip.IsLoopback() {
			return d.DialContext(ctx, network, server)
		}
		d.Control = ctl
		if a := src.Address; a.IsValid() && a.Is4() == ip.Is4() {
			if strings.HasPrefix(network, "udp") {
				d.LocalAddr = &net.UDPAddr{IP: a.AsSlice()}
			} else {
				d.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
			}
		}
		return d.DialContext(ctx, network, server)
	}}, nil
}

// hedged sends one signed POST /v1/ping and returns the function's answer. When the first
// request stays unanswered for HedgeAfter, a second one joins it (see Options.HedgeAfter);
// an answer, good or bad, that arrives before then is final.
func (c *Client) hedged(ctx context.Context, since *int64) (wire.PingResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if c.opts.HedgeAfter < 0 {
		return c.ping(ctx, since)
	}
	type result struct {
		pr  wire.PingResponse
		err error
	}
	results := make(chan result, 2)
	attempt := func() { pr, err := c.ping(ctx, since); results <- result{pr, err} }
	go attempt()
	hedge := time.NewTimer(c.opts.HedgeAfter)
	defer hedge.Stop()
	inflight, hedged := 1, false
	var firstErr error
	for {
		select {
		case r := <-results:
			inflight--
			if r.err == nil || !hedged {
				return r.pr, r.err
			}
			if firstErr == nil {
				firstErr = r.err
			}
			if inflight == 0 {
				return wire.PingResponse{}, firstErr
			}
		case <-hedge.C:
			hedged = true
			inflight++
			go attempt()
		}
	}
}

// ping sends one signed request on its own connection.
func (c *Client) ping(ctx context.Context, since *int64) (wire.PingResponse, error) {
	body, err := json.Marshal(wire.PingRequest{Agent: c.opts.Agent, Since: since, Line: string(c.opts.Line)})
	if err != nil {
		return wire.PingResponse{}, fmt.Errorf("encode ping: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return wire.PingResponse{}, fmt.Errorf("build ping: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.opts.Agent)
	sent, used := c.opts.Now(), c.opts.Clock.Offset()
	req.Header.Set("Authorization", auth.Header(c.opts.Site, c.opts.Secret, http.MethodPost, c.path, sent.Add(used).Unix(), c.opts.Nonce(), body))
	resp, err := c.hc.Do(req)
	if err != nil {
		return wire.PingResponse{}, fmt.Errorf("%w: %s", ErrUnreachable, describeTransport(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return wire.PingResponse{}, fmt.Errorf("%w: %w: HTTP %d to %s; set --url to the final https:// address",
			ErrRequest, ErrRedirect, resp.StatusCode, redirectHost(resp))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return wire.PingResponse{}, fmt.Errorf("%w: reading answer: %s", ErrUnreachable, describeTransport(err))
	}
	if resp.StatusCode != http.StatusOK {
		return wire.PingResponse{}, c.measured(statusError(resp.StatusCode, raw), sent, used)
	}
	var pr wire.PingResponse
	if err := json.Unmarshal(raw, &pr); err != nil {
		return wire.PingResponse{}, fmt.Errorf("%w: answer is not a ping response: %v", ErrServer, err)
	}
	if !pr.IP.IsValid() {
		return wire.PingResponse{}, fmt.Errorf("%w: answer has no ip", ErrServer)
	}
	return pr, nil
}

// noRedirects is the ping's redirect policy: hand the 3xx back, follow nothing.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// redirectHost names where a redirect points, without its path or query (which may carry
// tokens).
func redirectHost(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil {
		return "nowhere"
	}
	return loc.Scheme + "://" + loc.Host
}

// StatusError is a non-200 answer of the function.
type StatusError struct {
	Status  int
	Code    string // wire error code, if the body was a JSON error
	Message string // the function's message (never contains secrets)
	// ServerTime is the function's clock, when the error object carried it (a hint: the
	// answer is not signed).
	ServerTime time.Time
	kind       error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%v: HTTP %d", e.kind, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns one of ErrRejected, ErrServer, ErrRequest or ErrUnknownLine (which wraps
// ErrRequest).
func (e *StatusError) Unwrap() error { return e.kind }

func statusError(status int, raw []byte) error {
	e := &StatusError{Status: status}
	var er wire.ErrorResponse
	if json.Unmarshal(raw, &er) == nil {
		e.Code, e.Message, e.ServerTime = er.Error.Code, truncate(er.Error.Message, 200), er.Error.ServerTime
	}
	switch {
	case status == http.StatusBadRequest && e.Code == wire.CodeUnknownLine:
		e.kind = ErrUnknownLine
	case status == http.StatusUnauthorized, status == http.StatusConflict, status == http.StatusTooManyRequests:
		e.kind = ErrRejected
	case status >= 500:
		e.kind = ErrServer
	default:
		e.kind = ErrRequest
	}
	return e
}

// describeTransport keeps the cause of a transport error but drops the URL, which the
// caller already knows and which should not end up in logs twice.
func describeTransport(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
