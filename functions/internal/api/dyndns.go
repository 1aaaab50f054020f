package api

import (
	"context"
	"errors"
	"strings"

	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/dyndns"
	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// hostMap maps a dyndns2 hostname to the site and the line it names: the site's name
// itself (its default line), or the full name of one of its DNS records
// (hz.vpn.example.com, what routers' DDNS clients send) with the line the record follows
// (line_of_site), as the store keeps it.
func hostMap(cfg *config.Config) map[string]site.Peer {
	m := map[string]site.Peer{}
	for _, n := range cfg.SiteNames {
		st := cfg.Sites[n]
		m[string(n)] = site.Peer{Site: n}
		for _, r := range st.DNS {
			l, _ := st.StoredLine(r.LineOfSite)
			m[strings.ToLower(r.FQDN())] = site.Peer{Site: n, Line: l}
		}
	}
	return m
}

// host is the dyndns.Lookup of the hostnames.
func (s *Server) host(h string) (site.Name, bool) { p, ok := s.hosts[h]; return p.Site, ok }

// dyndnsLine is the line an update records: the line of the first hostname naming a DNS
// record of the site that follows a line of its own, else the default line.
func (s *Server) dyndnsLine(st site.Name, hosts []string) site.Line {
	for _, h := range hosts {
		if p, ok := s.hosts[strings.ToLower(h)]; ok && p.Site == st && p.Line != "" {
			return p.Line
		}
	}
	return ""
}

// nicUpdate serves GET /nic/update, the dyndns2 protocol, so a router's own DDNS client can
// act as a pinger. Answers are plain text; only Basic credentials are accepted.
func (s *Server) nicUpdate(ctx context.Context, h *fcevent.HTTP, out *Outcome) (fcevent.Response, error) {
	text := func(c dyndns.Code, body string) (fcevent.Response, error) {
		out.Code = string(c)
		r := fcevent.Response{Status: dyndns.StatusCode(c), Body: []byte(body),
			Header: map[string]string{"Content-Type": dyndns.ContentType, "Cache-Control": "no-store"}}
		if c == dyndns.BadAuth {
			r.Header["WWW-Authenticate"] = dyndns.Challenge
		}
		return r, nil
	}
	refuse := func(err error) (fcevent.Response, error) {
		c := dyndnsCode(err)
		return text(c, dyndns.Reply(dyndns.Answer{Code: c}))
	}
	c, err := s.authenticate(ctx, h, out, s.dyndnsBasic)
	if err == nil && c.Kind != auth.KindBasic {
		err = errNotBasic
	}
	if err != nil {
		return refuse(err)
	}
	q, err := dyndns.ParseQuery(h.Query)
	if err != nil {
		return refuse(err)
	}
	conf := s.cfg.Sites[c.Site]
	d := dyndns.Decide(q, dyndns.Account{Site: c.Site, TrustMyIP: conf.TrustMyIP}, h.Source, s.host)
	if !d.Record {
		return text(firstCode(d), d.Reply(false))
	}
	if !d.FromMyIP {
		d.Addr = conf.Recorded(d.Addr) // an explicit myip is recorded as given
	}
	line := s.dyndnsLine(d.Site, q.Hostnames)
	res, err := s.store.Ping(ctx, store.PingInput{Site: d.Site, Line: line, Addr: d.Addr})
	if err != nil {
		s.log.WarnContext(ctx, "dyndns store error", "request_id", h.RequestID, "err", err.Error())
		return refuse(err)
	}
	out.Changed = res.Changed
	s.afterPing(ctx, d.Site, line, d.Addr, res)
	code := dyndns.NoChg
	if res.Changed {
		code = dyndns.Good
	}
	return text(code, d.Reply(res.Changed))
}

// dyndnsCode is the dyndns2 answer to each error: the one place errors meet dyndns codes.
func dyndnsCode(err error) dyndns.Code {
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.code == wire.CodeTooManyFailures:
		return dyndns.Abuse
	case ae != nil && (ae.code == wire.CodeUnauthorized || ae.code == wire.CodeStaleTimestamp):
		return dyndns.BadAuth
	case errors.Is(err, dyndns.ErrNoHostname):
		return dyndns.NotFQDN
	case errors.Is(err, dyndns.ErrTooManyHosts):
		return dyndns.NumHost
	}
	return dyndns.Code911
}

// dyndnsBasic is the rule of /nic/update: the site's dyndns_key when it has one (then its
// key is refused here, so a router never needs the HMAC secret), else the site key when
// the site has basic: true.
func (s *Server) dyndnsBasic(n site.Name) ([]byte, string, bool) {
	st, ok := s.cfg.Sites[n]
	if ok && st.DynDNSKey != "" {
		return []byte(st.DynDNSKey), store.CredentialDynDNS(n), true
	}
	return []byte(st.Key), store.CredentialSite(n), ok && st.Basic
}

func firstCode(d dyndns.Decision) dyndns.Code {
	for _, a := range d.Hosts {
		if a.Code != "" {
			return a.Code
		}
	}
	return dyndns.Code911
}
