package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// Defaults of the reconciler.
const (
	DefaultMargin      = 5 * time.Second
	DefaultLockTTL     = 5 * time.Minute
	DefaultMinInterval = 5 * time.Minute
	DefaultTTL         = 600
)

// Reconciler brings DNS records and VPN connections in line with sites' addresses.
// Set DNS and VPC, State and Region; the other fields have defaults.
type Reconciler struct {
	DNS     DNSAPI
	VPC     VPCAPI
	State   State
	Region  string // RegionId sent with every VPC request
	DryRun  bool   // read, log the mutating calls that would be made, change nothing
	Log     *slog.Logger
	Clock   Clock          // default: real time
	Rand    func() float64 // jitter source in [0,1) (default math/rand/v2)
	Margin  time.Duration  // stop this long before ctx's deadline (default DefaultMargin)
	Retry   Backoff        // busy/throttling retries (default 2s doubling up to 20s)
	LockTTL time.Duration  // per-target lock lifetime (default DefaultLockTTL)
}

// Mode says who asked for a reconcile.
type Mode int

const (
	// ModePing: a ping saw the address; targets already applied for it cost no cloud call.
	ModePing Mode = iota
	// ModeTimer: the periodic run; applied targets are read back and drift is repaired.
	ModeTimer
)

// Addrs are a site's current addresses; either may be invalid (unknown). Seen4 and Seen6
// are when the site last reported them (the store's record); zero for a ping's own address,
// which is seen now. The timer and the resume timer pass them, so a target is never moved
// to an address older than the one it last applied.
type Addrs struct {
	IPv4         netip.Addr
	IPv6         netip.Addr
	Seen4, Seen6 time.Time
}

// Targets are the cloud resources that follow one site's address.
type Targets struct {
	DNS []DNSRecord
	VPN []VPNConn
}

// Result is the outcome for one target, shaped like wire.Target.
type Result struct {
	Kind  string     // wire.KindDNS or wire.KindVPN
	Name  string     // "hz.vpn.example.com/A", or the connection's name
	State string     // wire.StateApplied, StatePending, StateError, StateDryRun
	IP    netip.Addr // the address the target follows
	Err   error      // why it is not applied (nil when applied)
}

// Wire converts r for the ping response.
func (r Result) Wire() wire.Target {
	t := wire.Target{Kind: r.Kind, Name: r.Name, State: r.State}
	if r.IP.IsValid() {
		t.IP = r.IP.String()
	}
	if r.Err != nil {
		t.Error = PublicError(r.Err)
	}
	return t
}

// WireTargets converts results for the ping response.
func WireTargets(rs []Result) []wire.Target {
	out := make([]wire.Target, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Wire())
	}
	return out
}

func (r *Reconciler) clock() Clock {
	if r.Clock != nil {
		return r.Clock
	}
	return realClock{}
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (r *Reconciler) margin() time.Duration {
	if r.Margin > 0 {
		return r.Margin
	}
	return DefaultMargin
}

func (r *Reconciler) backoff() Backoff {
	b := r.Retry
	if b.Initial <= 0 {
		b.Initial = 2 * time.Second
	}
	if b.Max <= 0 {
		b.Max = 20 * time.Second
	}
	return b
}

func (r *Reconciler) lockTTL() time.Duration {
	if r.LockTTL > 0 {
		return r.LockTTL
	}
	return DefaultLockTTL
}

// target is what Reconcile needs of a DNSRecord or VPNConn.
type target interface {
	key() TargetKey
	result() Result
	family(a Addrs) (netip.Addr, time.Time)
	validate() error
}

// Reconcile brings every target of one site in line with addrs and reports each target's
// state. Targets are handled one after the other; one failing does not stop the others.
// A target whose lock is held elsewhere is reported pending without any cloud call.
func (r *Reconciler) Reconcile(ctx context.Context, addrs Addrs, t Targets, mode Mode) []Result {
	var out []Result
	for _, d := range t.DNS {
		out = append(out, r.one(ctx, d, addrs, mode))
	}
	for _, v := range t.VPN {
		out = append(out, r.one(ctx, v, addrs, mode))
	}
	return out
}

func (r *Reconciler) one(ctx context.Context, t target, addrs Addrs, mode Mode) Result {
	res := t.result()
	ip, seen := t.family(addrs)
	res.IP = ip
	if err := t.validate(); err != nil {
		res.State, res.Err = wire.StateError, err
		return res
	}
	if !ip.IsValid() {
		res.State, res.Err = wire.StatePending, ErrNoAddress
		return res
	}
	k := t.key()
	st, _, err := r.State.GetTarget(ctx, k)
	if err != nil {
		res.State, res.Err = wire.StateError, err
		return res
	}
	if done, ok := r.settled(st, ip, mode); ok {
		return done.with(res)
	}
	token, locked, err := r.State.Lock(ctx, k, r.lockTTL())
	if err != nil {
		res.State, res.Err = wire.StateError, err
		return res
	}
	if !locked {
		res.State = wire.StatePending
		res.Err = errors.New("another reconcile of this target is in progress")
		return res
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = r.State.Unlock(uctx, k, token)
	}()
	// Someone may have finished this very change while we waited for the lock.
	if st, _, err = r.State.GetTarget(ctx, k); err != nil {
		res.State, res.Err = wire.StateError, err
		return res
	}
	if done, ok := r.settled(st, ip, mode); ok {
		return done.with(res)
	}

	if err := olderThanApplied(st, ip, seen); err != nil {
		return r.record(ctx, k, st, ip, seen, res, wire.StateError, err)
	}
	// The record says the target was applied at ip but the cloud may show another address
	// (a restore brought an old state back, or someone edited it): the cloud is changed back
	// only for an address the site reported after that was first found.
	hold := !r.DryRun && !seen.IsZero() && st.AppliedIP == ip &&
		(st.DriftSince.IsZero() && st.State == wire.StateApplied || !st.DriftSince.IsZero() && !seen.After(st.DriftSince))

	// Marked before any cloud call, so a killed instance leaves it for the resume timer.
	if err := r.State.SetUnfinished(ctx, k, true); err != nil {
		res.State, res.Err = wire.StateError, err
		return res
	}
	st.DesiredIP = ip
	st.Attempts++
	var state string
	switch t := t.(type) {
	case DNSRecord:
		state, err = r.applyDNS(ctx, t, ip, hold)
	case VPNConn:
		state, err = r.applyVPN(ctx, t, ip, &st, hold)
	}
	if errors.Is(err, ErrUnconfirmed) && st.DriftSince.IsZero() {
		st.DriftSince = r.clock().Now()
	}
	return r.record(ctx, k, st, ip, seen, res, state, err)
}

// record saves the outcome of a reconcile of target k at ip (last seen at seen; zero: now)
// and logs it.
func (r *Reconciler) record(ctx context.Context, k TargetKey, st TargetState, ip netip.Addr, seen time.Time, res Result, state string, err error) Result {
	now := r.clock().Now()
	st.State, st.UpdatedAt, st.DesiredIP = state, now, ip
	switch state {
	case wire.StateApplied:
		st.AppliedSeen = seen
		if seen.IsZero() {
			st.AppliedSeen = now
		}
		st.AppliedIP, st.Attempts, st.LastError, st.NotBefore, st.DriftSince = ip, 0, "", time.Time{}, time.Time{}
	case wire.StateDryRun, wire.StatePending:
		st.LastError = ""
		if err != nil {
			st.LastError = PublicError(err)
		}
	default:
		st.LastError = PublicError(err)
	}
	// Record the outcome even when ctx was cancelled by the deadline.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if perr := r.State.PutTarget(wctx, k, st); perr != nil && err == nil {
		err = perr
	}
	if uerr := r.State.SetUnfinished(wctx, k, unfinished(state, err)); uerr != nil && err == nil {
		err = uerr
	}
	r.log().Info("cloud: reconciled", "target", k.String(), "state", state, "ip", ip.String(), "error", LogError(err))
	res.State, res.Err = state, err
	return res
}

// ErrOlderAddress means the timer would move a target back to an address the site last reported
// before the one applied (a Redis restore or a lossy failover brought it back); it waits
// for the site's next ping instead.
var ErrOlderAddress = errors.New("cloud: not moved back to an address older than the one applied")

// ErrUnconfirmed means the target points elsewhere than the address it was applied at; it is
// changed back only once the site has reported that address again.
var ErrUnconfirmed = errors.New("cloud: the target points elsewhere than recorded; waiting for the site's next ping to confirm its address before changing it back")

// olderThanApplied refuses moving st's target to ip, last seen at seen, when the address
// it was applied at was seen later.
func olderThanApplied(st TargetState, ip netip.Addr, seen time.Time) error {
	if seen.IsZero() || !st.AppliedIP.IsValid() || st.AppliedIP == ip || st.AppliedSeen.IsZero() || !seen.Before(st.AppliedSeen) {
		return nil
	}
	return fmt.Errorf("%w: %s was last reported %s, %s (applied) %s; the site's next ping decides",
		ErrOlderAddress, ip, seen.UTC().Format(time.RFC3339), st.AppliedIP, st.AppliedSeen.UTC().Format(time.RFC3339))
}

// unfinished reports whether a target left in state with err should be reconciled again at
// the next resume tick (every minute) rather than the next full timer run: pending work
// (deferred, locked, busy gateway) and re-points stopped by the deadline.
func unfinished(state string, err error) bool {
	return state == wire.StatePending || errors.Is(err, ErrDeadline) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

type settledState struct {
	state string
	err   error
}

func (s settledState) with(r Result) Result { r.State, r.Err = s.state, s.err; return r }

// settled reports whether st already answers for ip without any cloud call.
func (r *Reconciler) settled(st TargetState, ip netip.Addr, mode Mode) (settledState, bool) {
	if st.DesiredIP != ip {
		return settledState{}, false
	}
	switch {
	case r.DryRun:
		if (st.State == wire.StateDryRun || st.State == wire.StateApplied && st.AppliedIP == ip) && mode == ModePing {
			return settledState{state: wire.StateDryRun}, true
		}
	case st.State == wire.StateApplied && st.AppliedIP == ip && mode == ModePing:
		return settledState{state: wire.StateApplied}, true
	case st.State == wire.StatePending && r.clock().Now().Before(st.NotBefore):
		return settledState{state: wire.StatePending, err: fmt.Errorf("re-point deferred until %s (min_interval)", st.NotBefore.UTC().Format(time.RFC3339))}, true
	}
	return settledState{}, false
}
