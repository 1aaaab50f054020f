package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/statuspage"
	"github.com/ppter/ppter/functions/internal/store"
)

// TargetLister lists the current state of every cloud target, for the status page.
type TargetLister interface {
	Targets(ctx context.Context) ([]statuspage.Target, error)
}

// Status page defaults.
const (
	defaultStatusEvents = 50
	maxStatusEvents     = 1000
)

// status serves GET /v1/status: the fleet, its targets and recent events, as JSON or, for
// browsers, as an HTML page. It needs the admin token as a Bearer credential.
func (s *Server) status(ctx context.Context, h *fcevent.HTTP, _ *Outcome) (fcevent.Response, error) {
	if err := s.checkAdmin(ctx, h); err != nil {
		return fcevent.Response{}, err
	}
	n := defaultStatusEvents
	if v := h.Query.Get("events"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i > maxStatusEvents {
			return fcevent.Response{}, errEvents
		}
		n = i
	}
	f, err := s.fleet(ctx, n)
	if err != nil {
		return fcevent.Response{}, err
	}
	if statuspage.WantsHTML(h.Header.Get("Accept")) {
		b, err := statuspage.HTML(f)
		if err != nil {
			return fcevent.Response{}, err
		}
		return fcevent.Response{Status: http.StatusOK, Body: b, Header: map[string]string{
			"Content-Type": statuspage.ContentTypeHTML, "Cache-Control": "no-store",
			"Content-Security-Policy": statuspage.ContentSecurityPolicy, "X-Content-Type-Options": "nosniff",
		}}, nil
	}
	b, err := statuspage.JSON(f)
	if err != nil {
		return fcevent.Response{}, err
	}
	return fcevent.Response{Status: http.StatusOK, Body: b, Header: map[string]string{
		"Content-Type": statuspage.ContentTypeJSON, "Cache-Control": "no-store",
	}}, nil
}

// checkAdmin checks the admin token. Its failures count apart from every site's (against
// the admin credential from the source, see authenticate), and a source over the limit is
// refused before the token is looked at.
func (s *Server) checkAdmin(ctx context.Context, h *fcevent.HTTP) error {
	if s.cfg.Admin.Token == "" {
		return errStatusOff
	}
	k := store.FailKey{Credential: store.CredentialAdmin, Source: store.SourceOf(h.Source)}
	if err := s.checkLimit(ctx, k); err != nil {
		return err
	}
	// The token comes as a Bearer credential (programs) or as the password of Basic
	// credentials with any user name, so a browser can open the page through its own
	// login prompt.
	authz := h.Header.Get("Authorization")
	given, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok {
		if raw, isBasic := strings.CutPrefix(authz, "Basic "); isBasic {
			if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(raw)); err == nil {
				_, given, ok = strings.Cut(string(dec), ":")
			}
		}
	}
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(s.cfg.Admin.Token))
	if ok && subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
		return nil
	}
	if !ok {
		return errAdminToken // no token given (a browser before its login prompt): nothing to count
	}
	return s.failed(ctx, h, k, errAdminToken)
}

// fleet assembles the status view: every configured site (also those never seen), the
// targets' states and the newest n events.
func (s *Server) fleet(ctx context.Context, n int) (statuspage.Fleet, error) {
	now := s.now()
	recs, _, err := s.store.Fleet(ctx)
	if err != nil {
		return statuspage.Fleet{}, err
	}
	bySlot := map[[2]string]store.Record{}
	for _, r := range recs {
		bySlot[[2]string{string(r.Site), string(r.Line)}] = r
	}
	f := statuspage.Fleet{GeneratedAt: now.UTC(), Sites: []statuspage.Site{}, Targets: []statuspage.Target{}, Events: []statuspage.Event{}}
	for _, name := range s.cfg.SiteNames {
		r := bySlot[[2]string{string(name), ""}]
		r.Site = name
		for _, l := range s.lines[name] {
			r.Lines = append(r.Lines, bySlot[[2]string{string(name), string(l)}])
		}
		p := s.peer(r, now)
		f.Sites = append(f.Sites, statuspage.Site{Name: name, IPv4: r.IPv4, IPv6: r.IPv6, SeenAt: p.SeenAt, ChangedAt: p.ChangedAt, Stale: p.Stale, Lines: p.Lines})
	}
	if s.cloud != nil {
		ts, err := s.cloud.Targets(ctx)
		if err != nil {
			return statuspage.Fleet{}, err
		}
		f.Targets = append(f.Targets, ts...)
	}
	if n > 0 {
		evs, err := s.store.Events(ctx, n)
		if err != nil {
			return statuspage.Fleet{}, err
		}
		for _, e := range evs {
			line := s.cfg.Sites[e.Site].LineName(e.Line)
			f.Events = append(f.Events, statuspage.Event{At: e.At, Site: e.Site, Line: line, Kind: e.Kind, Detail: eventDetail(e)})
		}
	}
	return f, nil
}

func eventDetail(e store.Event) string {
	if e.Kind == store.EventAddressChanged {
		prev := e.Previous
		if prev == "" {
			prev = "none"
		}
		return fmt.Sprintf("%s %s → %s", e.Family, prev, e.IP)
	}
	return e.Detail
}
