package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/functions/internal/statuspage"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Event kinds of target results in the event stream.
const (
	EventTargetApplied = "target_applied"
	EventTargetFailed  = "target_failed"
)

// errNoCredentials is reported for targets when the function has no cloud credentials.
var errNoCredentials = errors.New("no Alibaba Cloud credentials: give the function a RAM role (s.yaml role) or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")

// cloudTargets connects the API server to the cloud reconciler: it runs it on each site's
// configured targets, picks credentials per invocation, records results in the event stream
// and sends target failure/recovery notifications.
type cloudTargets struct {
	cfg      *config.Config
	state    cloud.State
	store    store.Store
	notifier *notify.Notifier
	log      *slog.Logger
	now      func() time.Time
	// clock, when set, replaces real time in the reconciler (tests).
	clock cloud.Clock
}

var _ api.Cloud = (*cloudTargets)(nil)

// Reconcile implements api.Reconciler: the ping that saw a change.
func (c *cloudTargets) Reconcile(ctx context.Context, s site.Name, l site.Line, v4, v6 netip.Addr) []wire.Target {
	conf := c.cfg.Sites[s]
	return cloud.WireTargets(c.runTargets(ctx, s, l, cloud.Addrs{IPv4: v4, IPv6: v6}, conf.Following(l), cloud.ModePing))
}

// ReconcileAll implements api.FleetReconciler: the timer's retries and drift repair.
func (c *cloudTargets) ReconcileAll(ctx context.Context, recs []store.Record) map[string][]wire.Target {
	return c.walk(ctx, recs, cloud.ModeTimer)
}

// walk reconciles every target of recs' sites (each record a line) that follows the
// record's line, in mode, for a timer. Each target gets a share
// of the run (what is left of it, divided by the targets left), so one stuck target cannot
// starve the others, and each run starts its walk one target further on.
func (c *cloudTargets) walk(ctx context.Context, recs []store.Record, mode cloud.Mode) map[string][]wire.Target {
	type unit struct {
		rec  store.Record
		t    cloud.Targets // one target
		slot int           // its place among the site's targets
	}
	var units []unit
	for _, r := range recs {
		for i, u := range c.cfg.Sites[r.Site].Units() {
			if u.Line == r.Line {
				units = append(units, unit{r, u.Targets, i})
			}
		}
	}
	slots := map[string][]wire.Target{}
	if len(units) == 0 {
		return slots
	}
	run, err := c.state.NextRun(ctx)
	if err != nil {
		c.log.Warn("cloud: timer run counter", "error", err.Error())
	}
	start := int(run % int64(len(units)))
	units = append(units[start:], units[:start]...)
	for i, u := range units {
		tctx, cancel := context.WithDeadline(ctx, c.clockNow().Add(c.share(ctx, len(units)-i)))
		res := c.runTargets(tctx, u.rec.Site, u.rec.Line, recordAddrs(u.rec), u.t, mode)
		cancel()
		name := string(u.rec.Site)
		if slots[name] == nil {
			slots[name] = make([]wire.Target, len(c.cfg.Sites[u.rec.Site].Units()))
		}
		for _, r := range res {
			slots[name][u.slot] = r.Wire()
		}
	}
	for name, ts := range slots { // the slots of lines with no record
		slots[name] = slices.DeleteFunc(ts, func(t wire.Target) bool { return t.Name == "" })
	}
	return slots
}

// MaxTargetShare bounds one target's share of a timer run when the run has no deadline.
const MaxTargetShare = 2 * time.Minute

// share is one target's part of what is left of ctx's run with left targets to go.
func (c *cloudTargets) share(ctx context.Context, left int) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return MaxTargetShare
	}
	rest := dl.Sub(c.clockNow()) - cloud.DefaultMargin
	if rest <= 0 {
		return 0
	}
	// The reconciler stops Margin before its deadline: give that back to each share.
	return rest/time.Duration(left) + cloud.DefaultMargin
}

func (c *cloudTargets) clockNow() time.Time {
	if c.clock != nil {
		return c.clock.Now()
	}
	return c.now()
}

// recordAddrs are a stored record's addresses with when the site last reported each: the
// timers never move a target back to an address older than the one it applied.
func recordAddrs(r store.Record) cloud.Addrs {
	return cloud.Addrs{IPv4: r.IPv4, IPv6: r.IPv6, Seen4: r.Seen4, Seen6: r.Seen6}
}

// Resume implements api.Resumer: the one-minute timer. With nothing unfinished it is one
// state read; otherwise the sites with unfinished targets are reconciled as a ping would
// (targets already applied cost no cloud call).
func (c *cloudTargets) Resume(ctx context.Context, fleet func(context.Context) ([]store.Record, error)) (map[string][]wire.Target, error) {
	keys, err := c.state.Unfinished(ctx)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	left := map[cloud.TargetKey]bool{}
	for _, k := range keys {
		left[k] = true
	}
	recs, err := fleet(ctx)
	if err != nil {
		return nil, err
	}
	var hits []store.Record
	for _, r := range recs {
		s, ok := c.cfg.Sites[r.Site]
		if !ok {
			continue
		}
		hit := false
		for _, t := range s.Following(r.Line).List() {
			hit = hit || left[t.Key()]
			delete(left, t.Key())
		}
		if hit {
			hits = append(hits, r)
		}
	}
	for k := range left { // targets no longer configured
		_ = c.state.SetUnfinished(ctx, k, false)
	}
	if len(hits) == 0 {
		return map[string][]wire.Target{}, nil
	}
	return c.walk(ctx, hits, cloud.ModePing), nil
}

func (c *cloudTargets) credentials(ctx context.Context) cloud.Credentials {
	if fc, ok := fccontext.FromContext(ctx); ok && fc.Credentials.AccessKeyId != "" {
		return cloud.Credentials{AccessKeyID: fc.Credentials.AccessKeyId, AccessKeySecret: fc.Credentials.AccessKeySecret, SecurityToken: fc.Credentials.SecurityToken}
	}
	return c.cfg.Credentials
}

// runTargets reconciles targets t of site s, which follow its stored line l.
func (c *cloudTargets) runTargets(ctx context.Context, s site.Name, l site.Line, addrs cloud.Addrs, t cloud.Targets, mode cloud.Mode) []cloud.Result {
	list := t.List()
	if len(list) == 0 {
		return nil
	}
	prior := make(map[string]cloud.TargetState, len(list))
	for _, x := range list {
		if st, ok, err := c.state.GetTarget(ctx, x.Key()); err == nil && ok {
			prior[x.Name()] = st
		}
	}
	var res []cloud.Result
	creds := c.credentials(ctx)
	if creds.AccessKeyID == "" {
		state := wire.StateError
		if c.cfg.Aliyun.DryRun {
			state = wire.StateDryRun
		}
		return t.Results(addrs, state, errNoCredentials)
	}
	cc := cloud.ClientConfig{Region: c.cfg.Aliyun.Region, DNSEndpoint: c.cfg.Aliyun.DNSEndpoint, VPCEndpoint: c.cfg.Aliyun.VPCEndpoint,
		Protocol: c.cfg.Aliyun.Protocol, Credentials: creds}
	dns, err := cloud.NewDNSClient(cc)
	if err == nil {
		var vpcc cloud.VPCAPI
		if vpcc, err = cloud.NewVPCClient(cc); err == nil {
			r := cloud.New(cloud.Reconciler{DNS: dns, VPC: vpcc, State: c.state, Region: c.cfg.Aliyun.Region, DryRun: c.cfg.Aliyun.DryRun,
				Log: c.log.With("site", string(s)), Clock: c.clock})
			res = r.Reconcile(ctx, addrs, t, mode)
		}
	}
	if err != nil {
		res = t.Results(cloud.Addrs{}, wire.StateError, fmt.Errorf("cloud clients: %w", err))
	}
	c.record(ctx, s, l, res, prior)
	return res
}

// record appends a result to the event stream when a target's state or address moved, and
// notifies failures and recoveries; l is the stored line the targets follow.
func (c *cloudTargets) record(ctx context.Context, s site.Name, l site.Line, res []cloud.Result, prior map[string]cloud.TargetState) {
	now := c.now()
	named := c.cfg.Sites[s].LineName(l)
	for _, r := range res {
		before, seen := prior[r.Name]
		if seen && before.State == r.State && (r.State != wire.StateApplied || before.AppliedIP == r.IP) {
			continue
		}
		w := r.Wire()
		switch r.State {
		case wire.StateError:
			_ = c.store.AppendEvent(ctx, store.Event{At: now, Kind: EventTargetFailed, Site: s, Line: l, IP: wire.AddrString(w.IP), Detail: string(r.Kind) + " " + r.Name + ": " + w.Error})
			kind := notify.TargetFailed
			if errors.Is(r.Err, cloud.ErrVanished) {
				kind = notify.TargetVanished
			}
			c.notifier.Notify(ctx, notify.Event{Kind: kind, Site: s, Line: named, At: now, IP: r.IP, TargetKind: r.Kind, Target: r.Name, Error: w.Error})
		case wire.StateApplied:
			_ = c.store.AppendEvent(ctx, store.Event{At: now, Kind: EventTargetApplied, Site: s, Line: l, IP: wire.AddrString(w.IP), Detail: string(r.Kind) + " " + r.Name + " → " + wire.AddrString(w.IP)})
			if seen && before.State == wire.StateError {
				c.notifier.Notify(ctx, notify.Event{Kind: notify.TargetRecovered, Site: s, Line: named, At: now, IP: r.IP, TargetKind: r.Kind, Target: r.Name})
			}
		}
	}
}

// Targets implements api.TargetLister.
func (c *cloudTargets) Targets(ctx context.Context) ([]statuspage.Target, error) {
	var out []statuspage.Target
	for _, s := range c.cfg.SiteNames {
		for _, x := range c.cfg.Sites[s].AllTargets() {
			k := x.Key()
			st, ok, err := c.state.GetTarget(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", store.ErrUnavailable, err)
			}
			t := statuspage.Target{Site: s, Kind: k.Kind, Name: x.Name(), State: wire.StatePending, Error: "not reconciled yet"}
			if ok {
				t.State, t.IP, t.Error, t.UpdatedAt = st.State, cmp.Or(st.AppliedIP, st.DesiredIP), st.LastError, st.UpdatedAt
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// hasTargets reports whether any site has cloud targets.
func hasTargets(cfg *config.Config) bool {
	for _, s := range cfg.Sites {
		if len(s.DNS)+len(s.VPN) > 0 {
			return true
		}
	}
	return false
}
