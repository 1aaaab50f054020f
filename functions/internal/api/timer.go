package api

import (
	"context"
	"slices"

	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// FleetReconciler reconciles every site's targets: retries of failed or deferred ones and
// repair of drift. The timer trigger calls it.
type FleetReconciler interface {
	ReconcileAll(ctx context.Context, recs []store.Record) map[string][]wire.Target
}

// TickReport is the timer invocation's answer (also logged).
type TickReport struct {
	Sites   int                      `json:"sites"`
	Stale   []string                 `json:"stale"`
	Targets map[string][]wire.Target `json:"targets"`
}

// Tick is the periodic work of the timer trigger: report sites that went stale (once per
// silence) and reconcile every target.
func (s *Server) Tick(ctx context.Context) (TickReport, error) {
	now := s.now()
	recs, _, err := s.store.Fleet(ctx)
	if err != nil {
		return TickReport{}, err
	}
	rep := TickReport{Sites: sites(recs), Stale: []string{}, Targets: map[string][]wire.Target{}}
	var configured []store.Record
	for _, r := range recs {
		conf, ok := s.cfg.Sites[r.Site]
		if !ok || r.Line != "" && !slices.Contains(conf.OtherLines(), r.Line) {
			continue // a site or line slot the config no longer uses keeps its record but is left alone
		}
		configured = append(configured, r)
		seen := r.SeenAt()
		if seen.IsZero() || now.Sub(seen) <= s.cfg.Ping.StaleAfter {
			continue
		}
		rep.Stale = append(rep.Stale, site.Peer{Site: r.Site, Line: conf.LineName(r.Line)}.String())
		news, err := s.store.MarkStale(ctx, r.Site, r.Line, seen)
		if err != nil {
			return rep, err
		}
		if news {
			ip := r.IPv4
			if !ip.IsValid() {
				ip = r.IPv6
			}
			s.notifier.Notify(ctx, notify.Event{Kind: notify.SiteStale, Site: r.Site, Line: conf.LineName(r.Line), At: now, IP: ip, SeenAt: seen})
		}
	}
	if s.cloud != nil {
		rep.Targets = s.cloud.ReconcileAll(ctx, configured)
	}
	return rep, nil
}

// ResumePayload is the payload of the one-minute timer trigger that resumes unfinished
// re-points (s.yaml); any other timer payload runs Tick.
const ResumePayload = "resume"

// Resumer finishes, soon after a ping ran out of budget, the re-points it left unfinished.
// With nothing unfinished it costs one state read and no cloud call.
type Resumer interface {
	Resume(ctx context.Context, fleet func(context.Context) ([]store.Record, error)) (map[string][]wire.Target, error)
}

// Resume is the work of the resume timer: the unfinished targets only.
func (s *Server) Resume(ctx context.Context) (TickReport, error) {
	rep := TickReport{Stale: []string{}, Targets: map[string][]wire.Target{}}
	if s.cloud == nil {
		return rep, nil
	}
	fleet := func(ctx context.Context) ([]store.Record, error) {
		recs, _, err := s.store.Fleet(ctx)
		rep.Sites = sites(recs)
		return recs, err
	}
	t, err := s.cloud.Resume(ctx, fleet)
	if t != nil {
		rep.Targets = t
	}
	return rep, err
}

// sites counts the sites of recs (Fleet's records, one per line, sorted by site).
func sites(recs []store.Record) int {
	n := 0
	for i, r := range recs {
		if i == 0 || r.Site != recs[i-1].Site {
			n++
		}
	}
	return n
}
