// Package api serves ppter's HTTP protocol (DESIGN.md section 3) on decoded Function Compute
// events: routing, site authentication, the ping, and the JSON errors. It holds no global
// state: a Server is built from the validated config, a store and a clock.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Reconciler brings a site's cloud targets (DNS records, VPN connections) in line with its
// addresses. Ping calls it only when an address changed.
type Reconciler interface {
	// Reconcile brings the targets following line l of s (store.PingInput.Line: "" for
	// the default line) to v4 and v6.
	Reconcile(ctx context.Context, s site.Name, l site.Line, v4, v6 netip.Addr) []wire.Target
}

// Cloud is the function's cloud targets: reconciled by the ping that saw a change and by
// the timers, and listed on the status page.
type Cloud interface {
	Reconciler
	FleetReconciler
	Resumer
	TargetLister
}

// Server answers HTTP trigger events.
type Server struct {
	cfg   *config.Config
	store store.Store
	cloud Cloud
	now   func() time.Time
	log   *slog.Logger
	// hosts is hostMap(cfg), the sites and lines /nic/update hostnames name.
	hosts    map[string]site.Peer
	notifier *notify.Notifier
	table    map[string]route
	// lines holds the other lines of each site with more than one (store.PingInput.Lines).
	lines map[site.Name][]site.Line
}

// Options are a Server's optional parts.
type Options struct {
	Cloud    Cloud            // nil: no cloud targets
	Notifier *notify.Notifier // nil: no notifications
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger     // nil: discard
}

// New returns a Server.
func New(cfg *config.Config, st store.Store, opt Options) *Server {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: st, cloud: opt.Cloud, now: opt.Now, log: opt.Log, hosts: hostMap(cfg), notifier: opt.Notifier}
	s.table = s.routes()
	for _, n := range cfg.SiteNames {
		if ls := cfg.Sites[n].OtherLines(); len(ls) > 0 {
			if s.lines == nil {
				s.lines = map[site.Name][]site.Line{}
			}
			s.lines[n] = ls
		}
	}
	return s
}

// Outcome describes how a request ended, for the invocation's log line. It never holds
// secrets.
type Outcome struct {
	Route   string
	Site    site.Name
	Code    string // error code, or "ok"
	Changed bool
}

// Serve answers one HTTP request. decodeErr is the error fcevent.Decode returned with h.
func (s *Server) Serve(ctx context.Context, h *fcevent.HTTP, decodeErr error) (fcevent.Response, Outcome) {
	out := Outcome{Route: h.Method + " " + h.Path}
	var r fcevent.Response
	err := decodeErr
	if err == nil {
		r, err = s.route(ctx, h, &out)
	}
	now := s.now()
	if err != nil {
		ae := s.answerOf(ctx, h, err, decodeErr != nil)
		out.Code = ae.code
		r = errorResponse(ae, now)
	} else if out.Code == "" {
		out.Code = "ok"
	}
	return dated(r, now), out
}

// dated gives r the standard Date header of its time (every answer, not only errors).
func dated(r fcevent.Response, now time.Time) fcevent.Response {
	if r.Header == nil {
		r.Header = map[string]string{}
	}
	r.Header["Date"] = now.UTC().Format(http.TimeFormat)
	return r
}

type handler func(context.Context, *fcevent.HTTP, *Outcome) (fcevent.Response, error)

type route struct {
	method string
	fn     handler
	// head allows HEAD for a GET route: only routes that record nothing.
	head bool
}

func (s *Server) routes() map[string]route {
	return map[string]route{
		wire.PathPing:    {method: http.MethodPost, fn: s.ping},
		wire.PathHealth:  {method: http.MethodGet, fn: s.health, head: true},
		wire.PathDynDNS2: {method: http.MethodGet, fn: s.nicUpdate},
		wire.PathStatus:  {method: http.MethodGet, fn: s.status, head: true},
	}
}

func (s *Server) route(ctx context.Context, h *fcevent.HTTP, out *Outcome) (fcevent.Response, error) {
	r, ok := s.table[h.Path]
	if !ok {
		return fcevent.Response{}, errNotFound
	}
	if h.Method != r.method && !(r.head && h.Method == http.MethodHead) {
		return fcevent.Response{}, fail(wire.CodeMethodNotAllowed, "%s takes %s, not %s", h.Path, r.method, h.Method).with("Allow", r.method)
	}
	return r.fn(ctx, h, out)
}

func (s *Server) health(context.Context, *fcevent.HTTP, *Outcome) (fcevent.Response, error) {
	return jsonResponse(http.StatusOK, map[string]string{"status": "ok"}), nil
}

// unknownKey stands in for the key of an unknown site or a disabled credential: the same
// work and the same answer as a wrong secret.
var unknownKey = []byte("\x00unknown-site")

// basicKey is an endpoint's rule for Basic credentials: the secret a site's Basic password
// is checked against, the credential its failures count against, and whether the site
// accepts Basic there at all.
type basicKey func(site.Name) (secret []byte, credential string, enabled bool)

// pingBasic is the rule of /v1/ping: the site key, when the site has basic: true.
func (s *Server) pingBasic(n site.Name) ([]byte, string, bool) {
	st, ok := s.cfg.Sites[n]
	return []byte(st.Key), store.CredentialSite(n), ok && st.Basic
}

// authenticate checks the request's site credentials.
//
// A valid signature is never limited: it proves the secret, and brute force cannot make
// one. Every other failed attempt counts against the credential it tried (the site's key,
// or its dyndns_key) from the source (store.SourceOf); once that is over auth.max_failures
// in the window, Basic credentials for it are refused with 429 before the secret is
// looked at, so a right guess and a wrong one get the same answer. Failing against one
// credential never limits another, and never a signed ping.
func (s *Server) authenticate(ctx context.Context, h *fcevent.HTTP, out *Outcome, basic basicKey) (auth.Credentials, error) {
	c, err := auth.Parse(h.Header.Get("Authorization"))
	if err != nil {
		if errors.Is(err, auth.ErrMissing) {
			return c, errNoCredentials // no secret was tried: nothing to count
		}
		return c, fail(wire.CodeUnauthorized, "%v", err).with("WWW-Authenticate", siteChallenge)
	}
	out.Site = c.Site
	if c.Kind == auth.KindHMAC {
		key, known := s.cfg.Key(c.Site)
		if !known {
			key = unknownKey
		}
		if err := c.VerifySecret(key, h.Method, h.Path, h.Body); err == nil && known {
			if err := c.CheckTime(s.now()); err != nil {
				return c, fail(wire.CodeStaleTimestamp, "%v; check the office clock (NTP)", err)
			}
			return c, nil
		}
		return c, s.failed(ctx, h, store.FailKey{Credential: store.CredentialSite(c.Site), Source: store.SourceOf(h.Source)}, errBadCredentials)
	}
	secret, credential, enabled := basic(c.Site)
	k := store.FailKey{Credential: credential, Source: store.SourceOf(h.Source)}
	if err := s.checkLimit(ctx, k); err != nil {
		return c, err
	}
	if !enabled {
		secret = unknownKey
	}
	if err := c.VerifySecret(secret, h.Method, h.Path, h.Body); err != nil || !enabled {
		if _, known := s.cfg.Sites[c.Site]; known && !enabled {
			s.log.WarnContext(ctx, "Basic credentials for a site that does not accept them here (basic: true enables the key; dyndns_key is for /nic/update only)",
				"request_id", h.RequestID, "site", string(c.Site), "route", h.Method+" "+h.Path)
		}
		return c, s.failed(ctx, h, k, errBadCredentials)
	}
	return c, nil
}

// checkLimit refuses k's credential from k's source once it is over its limit.
func (s *Server) checkLimit(ctx context.Context, k store.FailKey) error {
	n, err := s.store.Failures(ctx, k)
	switch {
	case err != nil:
		return err
	case n >= s.cfg.Auth.MaxFailures:
		return s.tooMany()
	}
	return nil
}

// failed counts a failed attempt against k and returns what to answer: e, or 429 past the
// limit. The failure that reaches the limit raises an auth_limited notification, once per
// window.
func (s *Server) failed(ctx context.Context, h *fcevent.HTTP, k store.FailKey, e *apiError) error {
	n, err := s.store.AuthFailure(ctx, k)
	if err != nil {
		return err
	}
	max := s.cfg.Auth.MaxFailures
	if n == max {
		ev := notify.Event{Kind: notify.AuthLimited, At: s.now(), IP: h.Source, Source: k.Source.String(), Failures: n}
		switch name, rest, _ := strings.Cut(k.Credential, ":"); name {
		case "site":
			ev.Site, ev.Credential = site.Name(rest), "site "+rest+" key"
		case "dyndns":
			ev.Site, ev.Credential = site.Name(rest), "site "+rest+" dyndns_key"
		default:
			ev.Credential = "admin token"
		}
		if _, known := s.cfg.Sites[ev.Site]; ev.Site != "" && !known {
			ev.Site, ev.Credential = "", "unknown site "+string(ev.Site)
		}
		s.log.WarnContext(ctx, "failure limit reached", "request_id", h.RequestID, "credential", ev.Credential, "source", ev.Source, "failures", n)
		s.notifier.Notify(ctx, ev)
	}
	if n > max {
		return s.tooMany()
	}
	return e
}

func (s *Server) tooMany() *apiError {
	return fail(wire.CodeTooManyFailures, "too many failed attempts with these credentials from this address; wait and retry").
		with("Retry-After", strconv.Itoa(int(s.cfg.Auth.FailureWindow.Seconds())))
}

func (s *Server) ping(ctx context.Context, h *fcevent.HTTP, out *Outcome) (fcevent.Response, error) {
	c, err := s.authenticate(ctx, h, out, s.pingBasic)
	if err != nil {
		return fcevent.Response{}, err
	}
	req, err := decodePing(h.Body)
	if err != nil {
		return fcevent.Response{}, err
	}
	if !h.Source.IsValid() {
		return fcevent.Response{}, errNoSource
	}
	conf := s.cfg.Sites[c.Site]
	line, ok := conf.StoredLine(req.Line)
	if !ok {
		return fcevent.Response{}, fail(wire.CodeUnknownLine, "site %s declares no line %q%s", c.Site, req.Line, conf.Declared())
	}
	addr := conf.Recorded(h.Source)
	in := store.PingInput{Site: c.Site, Line: line, Addr: addr, Nonce: c.Nonce, Peers: s.cfg.Peers(c.Site), Lines: s.lines}
	if req.Since != nil {
		in.Delta, in.Since = true, *req.Since
	}
	res, err := s.store.Ping(ctx, in)
	if err != nil {
		return fcevent.Response{}, err
	}
	out.Changed = res.Changed
	now := s.now()
	resp := wire.PingResponse{
		Site:         string(c.Site),
		IP:           addr,
		Family:       wire.FamilyOf(addr),
		Changed:      res.Changed,
		PreviousIP:   res.Previous,
		SeenAt:       seenAt(res.Self, addr),
		FleetVersion: res.Version,
		Delta:        res.Delta,
		Peers:        make([]wire.Peer, 0, len(res.Peers)),
		Targets:      []wire.Target{},
		Line:         string(conf.LineName(line)),
	}
	for _, p := range res.Peers {
		resp.Peers = append(resp.Peers, s.peer(p, now))
	}
	resp.Targets = s.afterPing(ctx, c.Site, line, addr, res)
	b, err := marshalPing(&resp)
	return bodyResponse(http.StatusOK, b, err), nil
}

// afterPing does what a recorded ping may call for, none of it on a steady ping: the
// notifications of a site coming back or changing address, and the reconcile of the site's
// cloud targets, whose states it returns. A change is carried out by the ping the store
// hands it to (res.Handle), which follows from the state (the address recorded against the
// one last handled), so a change whose first answer was lost is carried out by a later
// ping rather than never.
func (s *Server) afterPing(ctx context.Context, st site.Name, line site.Line, addr netip.Addr, res store.PingResult) []wire.Target {
	now := s.now()
	named := s.cfg.Sites[st].LineName(line)
	if !res.PrevSeen.IsZero() && now.Sub(res.PrevSeen) > s.cfg.Ping.StaleAfter {
		s.notifier.Notify(ctx, notify.Event{Kind: notify.SiteBack, Site: st, Line: named, At: now, IP: addr, SeenAt: now})
	}
	if !res.Handle {
		return []wire.Target{}
	}
	s.notifier.Notify(ctx, notify.Event{Kind: notify.AddressChanged, Site: st, Line: named, At: now, IP: addr, PreviousIP: res.Announced})
	targets := []wire.Target{}
	if s.cloud != nil {
		// The reconciler stops its margin before the deadline; add it so the budget is
		// the time it may work.
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Aliyun.PingBudget+cloud.DefaultMargin)
		targets = s.cloud.Reconcile(rctx, st, line, res.Self.IPv4, res.Self.IPv6)
		cancel()
	}
	if err := s.store.Handled(ctx, st, line, addr); err != nil {
		// The next ping handles the change again (the reconcile is idempotent).
		s.log.WarnContext(ctx, "could not record the change as handled", "site", string(st), "err", err.Error())
	}
	return targets
}

// Flush waits, within ctx, for the notifications the invocation started.
func (s *Server) Flush(ctx context.Context) { s.notifier.Wait(ctx) }

// decodePing checks the ping body: empty, or one JSON object.
func decodePing(body []byte) (wire.PingRequest, error) {
	var req wire.PingRequest
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return req, nil
	}
	// The common case in one pass: an object that decodes is one valid JSON object. Any
	// other body goes the long way, which tells what is wrong with it.
	if t[0] == '{' && json.Unmarshal(t, &req) == nil {
		return req, nil
	}
	req = wire.PingRequest{}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return req, errNotJSON
	}
	if dec.More() {
		return req, errTwoValues
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return req, errNotObject
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return req, errFieldTypes
	}
	return req, nil
}

func (s *Server) peer(r store.Record, now time.Time) wire.Peer {
	p := wire.Peer{
		Site:      string(r.Site),
		IPv4:      r.IPv4,
		IPv6:      r.IPv6,
		ChangedAt: r.ChangedAt(),
		SeenAt:    r.SeenAt(),
		Stale:     s.stale(r, now),
	}
	names := s.cfg.Sites[r.Site].LineNames
	for i, l := range names {
		lr := r
		if i > 0 {
			lr = store.Record{}
			if i-1 < len(r.Lines) {
				lr = r.Lines[i-1]
			}
		}
		p.Lines = append(p.Lines, wire.PeerLine{Name: string(l), IPv4: lr.IPv4, IPv6: lr.IPv6, SeenAt: lr.SeenAt(), ChangedAt: lr.ChangedAt(), Stale: s.stale(lr, now)})
	}
	return p
}

// stale tells whether r's line has not pinged within ping.stale_after (or never).
func (s *Server) stale(r store.Record, now time.Time) bool {
	seen := r.SeenAt()
	return seen.IsZero() || now.Sub(seen) > s.cfg.Ping.StaleAfter
}

func seenAt(r store.Record, a netip.Addr) time.Time {
	if wire.FamilyOf(a) == wire.IPv4 {
		return r.Seen4
	}
	return r.Seen6
}

func jsonResponse(status int, v any) fcevent.Response {
	b, err := json.Marshal(v)
	return bodyResponse(status, b, err)
}

// bodyResponse is the JSON answer b (err: the encoding failed).
func bodyResponse(status int, b []byte, err error) fcevent.Response {
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding failed"}}`)
	}
	return fcevent.Response{Status: status, Header: map[string]string{
		"Content-Type":  "application/json; charset=utf-8",
		"Cache-Control": "no-store",
	}, Body: append(b, '\n')}
}
