package cloud

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWithGatewayLockFails: a failing Lock ends withGateway with the store's error (not
// ErrGatewayBusy), without running fn or leaving a lock behind.
func TestWithGatewayLockFails(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(e.ctx(time.Hour))
	cancel() // the memory state refuses every call under a cancelled context
	ran := false
	err := e.r.withGateway(ctx, gwID, func() error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrGatewayBusy) || ran {
		t.Fatalf("got %v (fn ran: %v), want the Lock's context.Canceled and fn not run", err, ran)
	}
	if _, ok, err := e.r.State.Lock(context.Background(), TargetKey{Kind: gatewayLockKind, Name: gwID}, time.Minute); !ok || err != nil {
		t.Fatalf("gateway lock: got %v, %v; want it free", ok, err)
	}
}

// TestWithGatewayPollSleepFails: waiting for a gateway another re-point holds, a poll's
// sleep that fails ends withGateway with the sleep's error, without running fn.
func TestWithGatewayPollSleepFails(t *testing.T) {
	e := newEnv(t, nil)
	if _, ok, err := e.r.State.Lock(context.Background(), TargetKey{Kind: gatewayLockKind, Name: gwID}, time.Hour); !ok || err != nil {
		t.Fatalf("holding the gateway: %v, %v", ok, err)
	}
	e.failSleeps()
	ran := false
	err := e.r.withGateway(e.ctx(time.Hour), gwID, func() error { ran = true; return nil })
	if !errors.Is(err, errSleep) || errors.Is(err, ErrGatewayBusy) || ran {
		t.Fatalf("got %v (fn ran: %v), want the sleep's errSleep and fn not run", err, ran)
	}
}
