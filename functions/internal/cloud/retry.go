package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alibabacloud-go/tea/tea"
)

// Errors of the reconciler.
var (
	// ErrDeadline: the invocation's deadline (minus the margin) leaves no time for the next
	// wait or call; the target is left in state error and retried later.
	ErrDeadline = errors.New("cloud: deadline near, giving up for now")
	// ErrNotFound: the configured VPN connection does not exist on the gateway.
	ErrNotFound = errors.New("cloud: not found")
	// ErrTTL: a DNS record's TTL is outside what the zone's edition allows (Validate).
	ErrTTL = errors.New("cloud: TTL outside the range the zone's edition allows")
	// ErrNoAddress: the site has no address of the family the target needs yet.
	ErrNoAddress = errors.New("cloud: site has no address of this family yet")
	// ErrBadTarget: the target's configuration is invalid (Validate), or its name is ambiguous.
	ErrBadTarget = errors.New("cloud: bad target")
)

// busyCodes are answered while a VPN gateway is applying a change, or when throttled:
// worth retrying after a while.
var busyCodes = map[string]bool{
	"VpnGateway.Configuring":    true,
	"VpnTask.CONFLICT":          true,
	"VpnConnection.Configuring": true,
	"Appliance.Configuring":     true,
	"OperationConflict":         true,
	"Throttling":                true,
	"Throttling.User":           true,
	"Throttling.Api":            true,
}

// Code returns the API error code of err ("" when err is not an API error).
func Code(err error) string {
	var e *tea.SDKError
	if errors.As(err, &e) {
		return tea.StringValue(e.Code)
	}
	return ""
}

// retryable reports whether err is worth retrying: busy and throttling codes, 5xx answers,
// and transport failures (which the SDK never retries; creations carry a ClientToken).
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if busyCodes[Code(err)] {
		return true
	}
	var e *tea.SDKError
	if errors.As(err, &e) {
		return tea.IntValue(e.StatusCode) >= 500
	}
	return true
}

// Clock tells time and waits. Sleep returns early with ctx.Err() when ctx is done.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff is a capped exponential backoff with jitter.
type Backoff struct {
	Initial time.Duration // first wait
	Max     time.Duration // cap
}

// delay returns the wait before retry number attempt (0-based): Initial·2^attempt capped at
// Max, scaled by a jitter factor in [0.5, 1).
func (b Backoff) delay(attempt int, jitter float64) time.Duration {
	d := b.Initial
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return time.Duration(float64(d) * (0.5 + jitter/2))
}

// budget checks that d more of waiting still ends before ctx's deadline minus the margin.
func (r *Reconciler) budget(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	if r.Clock.Now().Add(d + r.Margin).After(dl) {
		return ErrDeadline
	}
	return nil
}

// retried calls API method m with req (what names it for logs and errors), retrying busy
// answers with backoff within the budget. After the call it checks ctx: a cancelled
// reconcile stops right there, as a killed function would.
func retried[Req, Resp any](ctx context.Context, r *Reconciler, what string, m func(Req) (Resp, error), req Req) (resp Resp, err error) {
	err = r.callWith(ctx, what, r.Retry, func() (err error) {
		resp, err = m(req)
		return err
	})
	return resp, err
}

// pollBackoff paces status polls: short waits so a re-pointed connection is back soon after
// the gateway is.
var pollBackoff = Backoff{Initial: 2 * time.Second, Max: 5 * time.Second}

func (r *Reconciler) callWith(ctx context.Context, what string, b Backoff, fn func() error) error {
	for attempt := 0; ; attempt++ {
		if err := r.budget(ctx, 0); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		err := fn()
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %w", what, cerr)
		}
		if err == nil || !retryable(err) {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		d := b.delay(attempt, r.Rand())
		if berr := r.budget(ctx, d); berr != nil {
			// The full text goes to the log only; the error (answers, status page) carries
			// the public one.
			r.Log.Info("cloud: out of time for retries", "call", what, "last_error", LogError(err))
			return fmt.Errorf("%s: %w (last error: %s)", what, berr, PublicError(err))
		}
		r.Log.Debug("cloud: retrying", "call", what, "code", Code(err), "wait", d)
		if serr := r.Clock.Sleep(ctx, d); serr != nil {
			return fmt.Errorf("%s: %w", what, serr)
		}
	}
}
