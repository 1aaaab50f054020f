package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// TargetKey names one target in the state store: Kind is "dns" or "vpn"; Name is
// "<fqdn>/<type>" for DNS and "<gateway>/<connection>" for VPN.
type TargetKey struct {
	Kind wire.Kind
	Name string
}

func (k TargetKey) String() string { return string(k.Kind) + ":" + k.Name }

// TargetState is the persisted reconcile state of one target.
type TargetState struct {
	DesiredIP   netip.Addr `json:"desired_ip"`
	AppliedIP   netip.Addr `json:"applied_ip"`
	State       wire.State `json:"state"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
	LastRepoint time.Time  `json:"last_repoint,omitzero"` // VPN: when the last re-point completed
	NotBefore   time.Time  `json:"not_before,omitzero"`   // VPN: a pending re-point waits until then
	// AppliedSeen is when the site last reported AppliedIP before it was applied: the timer
	// never moves the target to an address last seen before then (a Redis restore or a
	// lossy failover brought an older one back).
	AppliedSeen time.Time `json:"applied_seen,omitzero"`
	// DriftSince is when the timer found the target pointing elsewhere than AppliedIP: it
	// repairs that only for an address the site reported after then.
	DriftSince time.Time `json:"drift_since,omitzero"`
}

// State persists per-target state, VPN re-point progress, and per-target locks. Every
// method fails when ctx is done.
type State interface {
	GetTarget(ctx context.Context, k TargetKey) (TargetState, bool, error)
	PutTarget(ctx context.Context, k TargetKey, s TargetState) error
	GetVPNOp(ctx context.Context, k TargetKey) (VPNOp, bool, error)
	PutVPNOp(ctx context.Context, k TargetKey, op VPNOp) error
	// ConfirmVPNOp saves op as PutVPNOp does and, where the store has replicas, returns
	// only once one confirms it (ErrNotDurable otherwise): called before a connection is
	// deleted, whose only copy is then the saved settings.
	ConfirmVPNOp(ctx context.Context, k TargetKey, op VPNOp) error
	DeleteVPNOp(ctx context.Context, k TargetKey) error
	// Lock takes the target's lock for ttl (SET NX PX semantics). It returns a token and
	// true when taken, false when someone else holds it.
	Lock(ctx context.Context, k TargetKey, ttl time.Duration) (token string, ok bool, err error)
	// Unlock releases the lock if token still owns it; otherwise it does nothing.
	Unlock(ctx context.Context, k TargetKey, token string) error
	// SetUnfinished marks (or clears) target k as needing another reconcile soon: a re-point
	// under way, or stopped by the budget or a busy gateway.
	SetUnfinished(ctx context.Context, k TargetKey, unfinished bool) error
	// Unfinished lists the marked targets in one read: the resume timer's whole cost when
	// nothing is under way.
	Unfinished(ctx context.Context) ([]TargetKey, error)
	// NextRun counts timer runs (1, 2, …), so each run can start its walk of the targets
	// somewhere else.
	NextRun(ctx context.Context) (int64, error)
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Memory is a State in process memory, for local runs and tests. now drives lock expiry.
type Memory struct {
	now     func() time.Time
	mu      sync.Mutex
	targets map[TargetKey]TargetState
	ops     map[TargetKey]VPNOp
	locks   map[TargetKey]memLock
	unfin   map[TargetKey]bool
	runs    int64
}

type memLock struct {
	token string
	until time.Time
}

var _ State = (*Memory)(nil)

// NewMemory returns an empty in-memory State; now defaults to time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, targets: map[TargetKey]TargetState{}, ops: map[TargetKey]VPNOp{}, locks: map[TargetKey]memLock{}, unfin: map[TargetKey]bool{}}
}

// do runs f holding m's mutex, unless ctx is done.
func (m *Memory) do(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
	return nil
}

// GetTarget implements State.
func (m *Memory) GetTarget(ctx context.Context, k TargetKey) (s TargetState, ok bool, err error) {
	err = m.do(ctx, func() { s, ok = m.targets[k] })
	return s, ok, err
}

// PutTarget implements State.
func (m *Memory) PutTarget(ctx context.Context, k TargetKey, s TargetState) error {
	return m.do(ctx, func() { m.targets[k] = s })
}

// GetVPNOp implements State.
func (m *Memory) GetVPNOp(ctx context.Context, k TargetKey) (op VPNOp, ok bool, err error) {
	err = m.do(ctx, func() {
		op, ok = m.ops[k]
		op = op.clone()
	})
	return op, ok, err
}

// PutVPNOp implements State.
func (m *Memory) PutVPNOp(ctx context.Context, k TargetKey, op VPNOp) error {
	return m.do(ctx, func() { m.ops[k] = op.clone() })
}

// ConfirmVPNOp implements State: process memory has no replica.
func (m *Memory) ConfirmVPNOp(ctx context.Context, k TargetKey, op VPNOp) error {
	return m.PutVPNOp(ctx, k, op)
}

// DeleteVPNOp implements State.
func (m *Memory) DeleteVPNOp(ctx context.Context, k TargetKey) error {
	return m.do(ctx, func() { delete(m.ops, k) })
}

// Lock implements State.
func (m *Memory) Lock(ctx context.Context, k TargetKey, ttl time.Duration) (token string, ok bool, err error) {
	err = m.do(ctx, func() {
		now := m.now()
		if l, held := m.locks[k]; held && now.Before(l.until) {
			return
		}
		token, ok = newToken(), true
		m.locks[k] = memLock{token: token, until: now.Add(ttl)}
	})
	return token, ok, err
}

// Unlock implements State.
func (m *Memory) Unlock(ctx context.Context, k TargetKey, token string) error {
	return m.do(ctx, func() {
		if l, ok := m.locks[k]; ok && l.token == token {
			delete(m.locks, k)
		}
	})
}

// SetUnfinished implements State.
func (m *Memory) SetUnfinished(ctx context.Context, k TargetKey, unfinished bool) error {
	return m.do(ctx, func() {
		if unfinished {
			m.unfin[k] = true
		} else {
			delete(m.unfin, k)
		}
	})
}

// NextRun implements State.
func (m *Memory) NextRun(ctx context.Context) (n int64, err error) {
	err = m.do(ctx, func() {
		m.runs++
		n = m.runs
	})
	return n, err
}

// Unfinished implements State.
func (m *Memory) Unfinished(ctx context.Context) ([]TargetKey, error) {
	out := []TargetKey{} // as Redis answers: empty, not nil
	err := m.do(ctx, func() {
		for k := range m.unfin {
			out = append(out, k)
		}
	})
	slices.SortFunc(out, func(a, b TargetKey) int { return strings.Compare(a.String(), b.String()) })
	return out, err
}
