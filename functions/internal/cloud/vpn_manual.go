package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

var (
	// ErrNoSavedOp: no re-point is saved for the connection.
	ErrNoSavedOp = errors.New("cloud: no re-point saved for this connection")
	// ErrTargetBusy: another reconcile holds the target's lock.
	ErrTargetBusy = errors.New("cloud: another reconcile of this target is in progress")
)

// SavedOp returns the re-point saved for v, its secrets redacted (ppter-admin vpn-op show).
func (r *Reconciler) SavedOp(ctx context.Context, v VPNConn) (VPNOp, error) {
	op, ok, err := r.State.GetVPNOp(ctx, v.Key())
	if err != nil {
		return VPNOp{}, err
	}
	if !ok {
		return VPNOp{}, ErrNoSavedOp
	}
	return op.Redacted(), nil
}

// ResumeSaved finishes the re-point saved for v, under the target's and the gateway's locks
// as a reconcile would (ppter-admin vpn-op resume), and records the target applied at the
// op's new address. It returns the op (secrets redacted).
func (r *Reconciler) ResumeSaved(ctx context.Context, v VPNConn) (VPNOp, error) {
	k := v.Key()
	token, locked, err := r.State.Lock(ctx, k, r.LockTTL)
	if err != nil {
		return VPNOp{}, err
	}
	if !locked {
		return VPNOp{}, ErrTargetBusy
	}
	defer r.unlock(ctx, k, token)
	op, ok, err := r.State.GetVPNOp(ctx, k)
	if err != nil {
		return VPNOp{}, err
	}
	if !ok {
		return VPNOp{}, ErrNoSavedOp
	}
	if err := r.withGateway(ctx, v.Gateway, func() error { return r.resume(ctx, k, &op) }); err != nil {
		return op.Redacted(), fmt.Errorf("vpn %s: %w", v.Connection, err)
	}
	st, _, err := r.State.GetTarget(ctx, k)
	if err != nil {
		return op.Redacted(), err
	}
	now := r.Clock.Now()
	st.DesiredIP, st.AppliedIP, st.State, st.Attempts, st.LastError = op.NewIP, op.NewIP, wire.StateApplied, 0, ""
	st.UpdatedAt, st.LastRepoint, st.NotBefore = now, now, time.Time{}
	if err := r.State.PutTarget(ctx, k, st); err != nil {
		return op.Redacted(), err
	}
	return op.Redacted(), r.State.SetUnfinished(ctx, k, false)
}
