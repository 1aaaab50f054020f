package cloud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// Defaults of the reconciler and of its targets.
const (
	DefaultMargin      = 5 * time.Second
	DefaultLockTTL     = 5 * time.Minute
	DefaultMinInterval = 5 * time.Minute
	DefaultTTL         = 600
)

// DefaultRetry paces busy and throttling retries.
var DefaultRetry = Backoff{Initial: 2 * time.Second, Max: 20 * time.Second}

// Reconciler brings DNS records and VPN connections in line with sites' addresses. Build it
// with New.
type Reconciler struct {
	DNS     DNSAPI
	VPC     VPCAPI
	State   State
	Region  string // RegionId sent with every VPC request
	DryRun  bool   // read, log the mutating calls that would be made, change nothing
	Log     *slog.Logger
	Clock   Clock
	Rand    func() float64 // jitter source in [0,1)
	Margin  time.Duration  // stop this long before ctx's deadline
	Retry   Backoff        // busy/throttling retries
	LockTTL time.Duration  // per-target lock lifetime
}

// New returns a Reconciler with r's fields, each one left zero set to its default: real
// time, math/rand/v2 jitter, a discarding log, DefaultMargin, DefaultRetry, DefaultLockTTL.
func New(r Reconciler) *Reconciler {
	if r.Clock == nil {
		r.Clock = realClock{}
	}
	if r.Rand == nil {
		r.Rand = rand.Float64
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.Retry == (Backoff{}) {
		r.Retry = DefaultRetry
	}
	r.Margin, r.LockTTL = cmp.Or(r.Margin, DefaultMargin), cmp.Or(r.LockTTL, DefaultLockTTL)
	return &r
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

// Targets are the cloud resources that follow one site's address (config: a site's dns
// and vpn).
type Targets struct {
	DNS []DNSRecord `yaml:"dns"`
	VPN []VPNConn   `yaml:"vpn"`
}

// Target is a DNSRecord or a VPNConn.
type Target interface {
	Key() TargetKey // its name in the reconciler's state
	Name() string   // its name in results
	family(a Addrs) (netip.Addr, time.Time)
}

// List returns every target, the DNS records first.
func (t Targets) List() []Target {
	out := make([]Target, 0, len(t.DNS)+len(t.VPN))
	for _, d := range t.DNS {
		out = append(out, d)
	}
	for _, v := range t.VPN {
		out = append(out, v)
	}
	return out
}

// Results reports every target in state with err, without any cloud call; each follows its
// address in a.
func (t Targets) Results(a Addrs, state wire.State, err error) []Result {
	var out []Result
	for _, x := range t.List() {
		ip, _ := x.family(a)
		out = append(out, Result{Kind: x.Key().Kind, Name: x.Name(), State: state, IP: ip, Err: err})
	}
	return out
}

// FieldError is a target's invalid setting: Field is its key in the configuration.
type FieldError struct {
	Field, Msg string
	Err        error // ErrBadTarget or ErrTTL
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return e.Err }

// Result is the outcome for one target, shaped like wire.Target.
type Result struct {
	Kind  wire.Kind
	Name  string // "hz.vpn.example.com/A", or the connection's name
	State wire.State
	IP    netip.Addr // the address the target follows
	Err   error      // why it is not applied (nil when applied)
}

// Wire converts r for the ping response.
func (r Result) Wire() wire.Target {
	t := wire.Target{Kind: r.Kind, Name: r.Name, State: r.State, IP: r.IP}
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

// Reconcile brings every target of one site in line with addrs and reports each target's
// state. Targets are handled one after the other; one failing does not stop the others.
// A target whose lock is held elsewhere is reported pending without any cloud call.
func (r *Reconciler) Reconcile(ctx context.Context, addrs Addrs, t Targets, mode Mode) []Result {
	var out []Result
	for _, x := range t.List() {
		out = append(out, r.one(ctx, x, addrs, mode))
	}
	return out
}

func (r *Reconciler) one(ctx context.Context, t Target, addrs Addrs, mode Mode) Result {
	k := t.Key()
	ip, seen := t.family(addrs)
	res := Result{Kind: k.Kind, Name: t.Name(), IP: ip}
	answer := func(state wire.State, err error) Result {
		res.State, res.Err = state, err
		return res
	}
	if !ip.IsValid() {
		return answer(wire.StatePending, ErrNoAddress)
	}
	st, _, err := r.State.GetTarget(ctx, k)
	if err != nil {
		return answer(wire.StateError, err)
	}
	if done, ok := r.settled(st, ip, mode); ok {
		return answer(done.state, done.err)
	}
	token, locked, err := r.State.Lock(ctx, k, r.LockTTL)
	if err != nil {
		return answer(wire.StateError, err)
	}
	if !locked {
		return answer(wire.StatePending, errors.New("another reconcile of this target is in progress"))
	}
	defer r.unlock(ctx, k, token)
	// Someone may have finished this very change while we waited for the lock.
	if st, _, err = r.State.GetTarget(ctx, k); err != nil {
		return answer(wire.StateError, err)
	}
	if done, ok := r.settled(st, ip, mode); ok {
		return answer(done.state, done.err)
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
		return answer(wire.StateError, err)
	}
	st.DesiredIP = ip
	st.Attempts++
	var state wire.State
	switch t := t.(type) {
	case DNSRecord:
		state, err = r.applyDNS(ctx, t, ip, hold)
	case VPNConn:
		state, err = r.applyVPN(ctx, t, ip, &st, hold)
	}
	if errors.Is(err, ErrUnconfirmed) && st.DriftSince.IsZero() {
		st.DriftSince = r.Clock.Now()
	}
	return r.record(ctx, k, st, ip, seen, res, state, err)
}

// record saves the outcome of a reconcile of target k at ip (last seen at seen; zero: now)
// and logs it.
func (r *Reconciler) record(ctx context.Context, k TargetKey, st TargetState, ip netip.Addr, seen time.Time, res Result, state wire.State, err error) Result {
	now := r.Clock.Now()
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
	r.Log.Info("cloud: reconciled", "target", k.String(), "state", state, "ip", ip.String(), "error", LogError(err))
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
func unfinished(state wire.State, err error) bool {
	return state == wire.StatePending || errors.Is(err, ErrDeadline) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

type settledState struct {
	state wire.State
	err   error
}

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
	case st.State == wire.StatePending && r.Clock.Now().Before(st.NotBefore):
		return settledState{state: wire.StatePending, err: fmt.Errorf("re-point deferred until %s (min_interval)", st.NotBefore.UTC().Format(time.RFC3339))}, true
	}
	return settledState{}, false
}
