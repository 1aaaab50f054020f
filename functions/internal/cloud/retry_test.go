package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"

	"github.com/ppter/ppter/internal/aliyunemu"
)

// interruptedClock is the fake clock whose every wait is cut short: Sleep cancels the
// context it waits under (an invocation killed during a backoff) and answers as a real
// Sleep then does, with ctx.Err().
type interruptedClock struct {
	*aliyunemu.Clock
	cancel context.CancelFunc
}

func (c interruptedClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.Clock.Sleep(ctx, d)
}

// interruptSleeps makes e's reconciler's next wait cancel the context it returns.
func (e *env) interruptSleeps() context.Context {
	ctx, cancel := context.WithCancel(e.ctx(time.Hour))
	e.t.Cleanup(cancel)
	e.r.Clock = interruptedClock{Clock: e.clock, cancel: cancel}
	return ctx
}

func (e *env) describeGateway(ctx context.Context) error {
	_, err := retried(ctx, e.r, "DescribeVpnGateway", e.r.VPC.DescribeVpnGateway,
		&vpc.DescribeVpnGatewayRequest{RegionId: tea.String(e.emu.Region()), VpnGatewayId: tea.String(gwID)})
	return err
}

// TestCallBudgetSpentUpFront: a call whose budget is already spent is not made; the error
// names the call and wraps ErrDeadline.
func TestCallBudgetSpentUpFront(t *testing.T) {
	e := newEnv(t, nil)
	err := e.describeGateway(e.ctx(e.r.Margin - time.Second))
	if !errors.Is(err, ErrDeadline) || err.Error() != "DescribeVpnGateway: "+ErrDeadline.Error() {
		t.Fatalf("got %v, want ErrDeadline named DescribeVpnGateway", err)
	}
	if n := e.emu.TotalCalls(); n != 0 {
		t.Fatalf("got %d calls, want none", n)
	}
}

// TestCallRetrySleepCancelled: a busy answer's backoff cut short by a cancelled context
// ends the call with that error, named, without another attempt.
func TestCallRetrySleepCancelled(t *testing.T) {
	e := newEnv(t, nil)
	ctx := e.interruptSleeps()
	e.emu.Throttle("DescribeVpnGateway", 1)
	err := e.describeGateway(ctx)
	if !errors.Is(err, context.Canceled) || err.Error() != "DescribeVpnGateway: "+context.Canceled.Error() {
		t.Fatalf("got %v, want context.Canceled named DescribeVpnGateway", err)
	}
	if n := e.emu.Calls("DescribeVpnGateway"); n != 1 || !strings.Contains(e.logs.String(), "cloud: retrying") {
		t.Fatalf("got %d calls, log:\n%s\nwant one call and a retry begun", n, e.logs)
	}
}
