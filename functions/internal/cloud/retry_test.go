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

// errSleep is the error failingClock's waits answer: distinct from any context's error, so
// a test sees that the wait's own error ended the work (not a later check of the context).
var errSleep = errors.New("test: sleep failed")

// failingClock is the fake clock whose every wait fails: Sleep waits as the fake clock does,
// then answers errSleep, leaving the context alive.
type failingClock struct {
	*aliyunemu.Clock
}

func (c failingClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := c.Clock.Sleep(ctx, d); err != nil {
		return err
	}
	return errSleep
}

// failSleeps makes every wait of e's reconciler fail with errSleep.
func (e *env) failSleeps() {
	e.r.Clock = failingClock{Clock: e.clock}
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

// TestCallRetrySleepFails: a busy answer's backoff that fails ends the call with the
// sleep's error, named, without another attempt.
func TestCallRetrySleepFails(t *testing.T) {
	e := newEnv(t, nil)
	e.failSleeps()
	e.emu.Throttle("DescribeVpnGateway", 1)
	err := e.describeGateway(e.ctx(time.Hour))
	if !errors.Is(err, errSleep) || err.Error() != "DescribeVpnGateway: "+errSleep.Error() {
		t.Fatalf("got %v, want errSleep named DescribeVpnGateway", err)
	}
	if n := e.emu.Calls("DescribeVpnGateway"); n != 1 || !strings.Contains(e.logs.String(), "cloud: retrying") {
		t.Fatalf("got %d calls, log:\n%s\nwant one call and a retry begun", n, e.logs)
	}
}
