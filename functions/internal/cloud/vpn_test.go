package cloud

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/shared/wire"
)

func TestVPNRepoint(t *testing.T) {
	e := newEnv(t, nil)
	var deletedAt, createdAt time.Time
	e.emu.SetAfterCall(func(_ int, action string) {
		switch action {
		case "DeleteVpnConnection":
			deletedAt = e.clock.Now()
		case "CreateVpnConnection":
			createdAt = e.clock.Now()
		}
	})
	res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing)
	if res.State != wire.StateApplied || res.Err != nil {
		t.Fatalf("got %s (%v), want applied", res.State, res.Err)
	}
	e.checkRepointed(newIP)
	gap := createdAt.Sub(deletedAt)
	t.Logf("calls: %v; connection absent for %s of gateway-update time", e.emu.CallLog(), gap)
	if gap < updTime || gap > updTime+10*time.Second {
		t.Fatalf("connection absent for %s, want about one gateway update (%s)", gap, updTime)
	}
	if e.emu.Calls("CreateCustomerGateway") != 1 || e.emu.Calls("CreateVpnConnection") != 1 || e.emu.Calls("DeleteVpnConnection") != 1 || e.emu.Calls("DeleteCustomerGateway") != 1 {
		t.Fatalf("mutating calls: got %v", e.emu.CallLog())
	}
	if w := res.Wire(); w.Kind != "vpn" || w.Name != connNm || w.IP.String() != newIP || w.Error != "" {
		t.Fatalf("wire: got %+v", w)
	}

	e.emu.ResetCalls()
	for i := 0; i < 3; i++ {
		if res := e.vpn(e.ctx(time.Minute), newIP, ModePing); res.State != wire.StateApplied {
			t.Fatalf("same-IP ping: got %s", res.State)
		}
	}
	if n := e.emu.TotalCalls(); n != 0 {
		t.Fatalf("same-IP pings made %d cloud calls, want 0", n)
	}
	// The timer reads back (no mutation) when nothing drifted.
	if res := e.vpn(e.ctx(time.Minute), newIP, ModeTimer); res.State != wire.StateApplied || e.emu.MutatingCalls() != 0 {
		t.Fatalf("timer: got %s, calls %v", res.State, e.emu.CallLog())
	}
}

// TestVPNFaultInjection kills the reconcile after each API call in turn (its context is
// cancelled as the call completes, as if the function died there) and checks that the next
// reconcile finishes the switch with identical settings and no orphan customer gateway, for
// both kinds of connection (e.check: single-tunnel recreated, dual-tunnel kept in place).
func TestVPNFaultInjection(t *testing.T) {
	for name, newKind := range map[string]func(*testing.T, func(*aliyunemu.Clock) State) *env{"single": newEnv, "dual": newDualEnv} {
		t.Run(name, func(t *testing.T) {
			clean := newKind(t, nil)
			if res := clean.vpn(clean.ctx(10*time.Minute), newIP, ModePing); res.State != wire.StateApplied {
				t.Fatalf("clean run: got %s (%v)", res.State, res.Err)
			}
			clean.check(newIP)
			n := clean.emu.TotalCalls()
			if n < 8 {
				t.Fatalf("clean run made only %d calls", n)
			}
			t.Logf("%s: %d calls: %v", name, n, clean.emu.CallLog())
			for k := 1; k <= n; k++ {
				e := newKind(t, nil)
				ctx, cancel := context.WithCancel(e.ctx(10 * time.Minute))
				var killedAfter string
				e.emu.SetAfterCall(func(seq int, action string) {
					if seq == k {
						killedAfter = action
						cancel()
					}
				})
				first := e.vpn(ctx, newIP, ModePing)
				e.emu.SetAfterCall(nil)
				if first.State == wire.StateApplied && k < n {
					t.Fatalf("kill after call %d (%s): first run reports applied", k, killedAfter)
				}
				e.clock.Advance(time.Minute)
				second := e.vpn(e.ctx(10*time.Minute), newIP, ModePing)
				if second.State != wire.StateApplied {
					t.Fatalf("kill after call %d (%s): second run got %s (%v)", k, killedAfter, second.State, second.Err)
				}
				e.check(newIP)
			}
		})
	}
}

func TestVPNConcurrentReconcilesRepointOnce(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, st)
			ctx := e.ctx(10 * time.Minute)
			var wg sync.WaitGroup
			// The goroutines only collect: the test fails from its own goroutine.
			results := make([][]Result, 6)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mode := ModePing
					if i == 0 {
						mode = ModeTimer
					}
					results[i] = e.r.Reconcile(ctx, v4(newIP), Targets{VPN: []VPNConn{vpnTarget}}, mode)
				}()
			}
			wg.Wait()
			applied := 0
			for _, rs := range results {
				if len(rs) != 1 {
					t.Fatalf("got %d results, want 1", len(rs))
				}
				switch r := rs[0]; r.State {
				case wire.StateApplied:
					applied++
				case wire.StatePending:
				default:
					t.Fatalf("got %s (%v)", r.State, r.Err)
				}
			}
			if applied == 0 || e.emu.Calls("CreateCustomerGateway") != 1 || e.emu.Calls("CreateVpnConnection") != 1 || e.emu.Calls("DeleteVpnConnection") != 1 {
				t.Fatalf("applied %d, calls %v: want exactly one re-point", applied, e.emu.CallLog())
			}
			e.checkRepointed(newIP)
		})
	}
}

func TestVPNBackoffOnBusyAndThrottling(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.Throttle("DescribeVpnConnections", 3)
	e.emu.InjectError("CreateVpnConnection", 2, 400, "VpnTask.CONFLICT")
	e.emu.ServerError("DeleteCustomerGateway", 1)
	start := e.clock.Now()
	res := e.vpn(e.ctx(30*time.Minute), newIP, ModePing)
	if res.State != wire.StateApplied {
		t.Fatalf("got %s (%v)", res.State, res.Err)
	}
	e.checkRepointed(newIP)
	if e.emu.Calls("CreateVpnConnection") != 3 || e.emu.Calls("DeleteCustomerGateway") != 2 {
		t.Fatalf("retries: got %v", e.emu.CallLog())
	}
	// Three throttled answers waited 1.5+3+6 s (2 s doubling, jitter factor 0.75).
	if waited := e.clock.Now().Sub(start); waited < 10500*time.Millisecond {
		t.Fatalf("waited %s in all, want at least 10.5s of backoff", waited)
	}
	if !strings.Contains(e.logs.String(), "Throttling.User") {
		t.Fatalf("retries not logged")
	}

	// A refusal that is not busy is not retried.
	e2 := newEnv(t, nil)
	e2.emu.InjectError("CreateCustomerGateway", 1, 400, "QuotaExceeded.CustomerGateway")
	res = e2.vpn(e2.ctx(10*time.Minute), newIP, ModePing)
	if res.State != wire.StateError || Code(res.Err) != "QuotaExceeded.CustomerGateway" || e2.emu.Calls("CreateCustomerGateway") != 1 {
		t.Fatalf("got %s (%v), calls %v", res.State, res.Err, e2.emu.CallLog())
	}
	if e2.emu.Calls("DeleteVpnConnection") != 0 {
		t.Fatal("deleted the connection although the new customer gateway could not be created")
	}
}

func TestVPNDeadlineGivesUpThenSucceeds(t *testing.T) {
	e := newEnv(t, nil)
	// The gateway is still updating from someone else's change for longer than we have.
	e.emu.InjectError("DeleteVpnConnection", 1000, 400, "VpnGateway.Configuring")
	res := e.vpn(e.ctx(45*time.Second), newIP, ModePing)
	if res.State != wire.StatePending || !errors.Is(res.Err, ErrDeadline) {
		t.Fatalf("got %s (%v), want pending with ErrDeadline (the saved re-point waits for the resume timer)", res.State, res.Err)
	}
	st, _, _ := e.r.State.GetTarget(context.Background(), vpnTarget.Key())
	if st.State != wire.StatePending || st.LastError == "" || st.Attempts != 1 {
		t.Fatalf("state: got %+v", st)
	}
	// Still stuck after many attempts: an error after all, so someone is told.
	for i := 1; i < maxWaitingAttempts; i++ {
		res = e.vpn(e.ctx(45*time.Second), newIP, ModePing)
	}
	if res.State != wire.StateError || !errors.Is(res.Err, ErrDeadline) {
		t.Fatalf("after %d attempts: got %s (%v), want error", maxWaitingAttempts, res.State, res.Err)
	}
	// Later (a timer run), the gateway is free again.
	e.emu.ClearFaults()
	e.emu.ResetCalls()
	e2 := e // same emulator and state
	res = e2.vpn(e2.ctx(10*time.Minute), newIP, ModeTimer)
	if res.State != wire.StateApplied {
		t.Fatalf("later: got %s (%v)", res.State, res.Err)
	}
	e2.checkRepointed(newIP)
	if st, _, _ := e.r.State.GetTarget(context.Background(), vpnTarget.Key()); st.State != wire.StateApplied || st.Attempts != 0 || st.LastError != "" {
		t.Fatalf("state after success: got %+v", st)
	}
}

func TestVPNMinIntervalDefers(t *testing.T) {
	e := newEnv(t, nil)
	if res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing); res.State != wire.StateApplied {
		t.Fatalf("first: got %s (%v)", res.State, res.Err)
	}
	e.clock.Advance(time.Minute)
	e.emu.ResetCalls()
	third := "192.0.2.77"
	res := e.vpn(e.ctx(10*time.Minute), third, ModePing)
	if res.State != wire.StatePending || res.Err == nil || e.emu.MutatingCalls() != 0 {
		t.Fatalf("inside min_interval: got %s (%v), calls %v", res.State, res.Err, e.emu.CallLog())
	}
	e.emu.ResetCalls()
	e.clock.Advance(time.Minute)
	if res := e.vpn(e.ctx(10*time.Minute), third, ModePing); res.State != wire.StatePending || e.emu.TotalCalls() != 0 {
		t.Fatalf("still inside: got %s, %d calls (want pending, 0)", res.State, e.emu.TotalCalls())
	}
	e.clock.Advance(4 * time.Minute)
	if res := e.vpn(e.ctx(10*time.Minute), third, ModeTimer); res.State != wire.StateApplied {
		t.Fatalf("after min_interval: got %s (%v)", res.State, res.Err)
	}
	for _, g := range e.emu.CustomerGateways() {
		if g.IP == newIP {
			t.Fatalf("intermediate customer gateway %s left behind", g.ID)
		}
	}
	e.orig.Ike.RemoteId = third
	e.checkRepointed(third)
}

func TestVPNDryRun(t *testing.T) {
	e := newEnv(t, nil)
	e.r.DryRun = true
	res := e.vpn(e.ctx(time.Minute), newIP, ModePing)
	if res.State != wire.StateDryRun || res.Err != nil {
		t.Fatalf("got %s (%v)", res.State, res.Err)
	}
	if n := e.emu.MutatingCalls(); n != 0 {
		t.Fatalf("dry run made %d mutating calls", n)
	}
	logs := e.logs.String()
	for _, want := range []string{"CreateCustomerGateway", "DeleteVpnConnection", "CreateVpnConnection", "DeleteCustomerGateway", newIP, "[REDACTED]"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("dry-run log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "pr3shared") {
		t.Fatal("dry-run log shows the PSK")
	}
	e.emu.ResetCalls()
	if res := e.vpn(e.ctx(time.Minute), newIP, ModePing); res.State != wire.StateDryRun || e.emu.TotalCalls() != 0 {
		t.Fatalf("repeated dry-run ping: got %s, %d calls", res.State, e.emu.TotalCalls())
	}
}

func TestVPNMissingConnectionAndAddress(t *testing.T) {
	e := newEnv(t, nil)
	rs := e.r.Reconcile(e.ctx(time.Minute), v4(newIP), Targets{VPN: []VPNConn{{Gateway: gwID, Connection: "nope"}}}, ModePing)
	if rs[0].State != wire.StateError || !errors.Is(rs[0].Err, ErrNotFound) {
		t.Fatalf("unknown connection: got %s (%v)", rs[0].State, rs[0].Err)
	}
	rs = e.r.Reconcile(e.ctx(time.Minute), Addrs{}, Targets{VPN: []VPNConn{vpnTarget}}, ModePing)
	if rs[0].State != wire.StatePending || !errors.Is(rs[0].Err, ErrNoAddress) {
		t.Fatalf("no IPv4: got %s (%v)", rs[0].State, rs[0].Err)
	}
}

// TestVPNStrategyRule: the obsolete strategy: key is accepted with its old values only; any
// other value is refused by Validate, and the error says so (not that it is ignored).
func TestVPNStrategyRule(t *testing.T) {
	for _, s := range []string{"", "recreate", "modify"} {
		v := VPNConn{Gateway: gwID, Connection: connNm, Strategy: s}
		v.SetDefaults()
		if err := v.Validate(); err != nil {
			t.Errorf("strategy %q: got %v, want accepted", s, err)
		}
	}
	v := VPNConn{Gateway: gwID, Connection: connNm, Strategy: "yolo"}
	v.SetDefaults()
	err := v.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "strategy" || !errors.Is(err, ErrBadTarget) {
		t.Fatalf("strategy yolo: got %v, want a FieldError on strategy wrapping ErrBadTarget", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "strategy: is obsolete: remove it") || !strings.Contains(msg, `"yolo" is refused`) || strings.Contains(msg, "ignored") {
		t.Fatalf("strategy yolo: got %q, want it named refused, not ignored", msg)
	}
}
