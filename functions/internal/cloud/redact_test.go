package cloud

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// TestDryRunRedactsAnyPSK: the dry-run plan of both connection kinds never shows a PSK,
// whatever it contains (a backslash and a quote escape differently at each JSON level).
func TestDryRunRedactsAnyPSK(t *testing.T) {
	const psk = `Ab\c"d\\e-TAILSECRET`
	for _, kind := range []string{"single", "dual"} {
		t.Run(kind, func(t *testing.T) {
			e := newBareEnv(t, nil)
			if kind == "single" {
				e.emu.SeedTunnel(gwID, connNm, oldIP, psk)
			} else {
				e.emu.SeedDualTunnel(gwID, connNm, oldIP, psk)
			}
			e.r.DryRun = true
			if res := e.vpn(e.ctx(time.Minute), newIP, ModePing); res.State != wire.StateDryRun {
				t.Fatalf("got %s (%v)", res.State, res.Err)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "would call") || !strings.Contains(logs, "[REDACTED]") {
				t.Fatalf("no plan logged:\n%s", logs)
			}
			for _, part := range []string{"TAILSECRET", "Ab"} {
				if strings.Contains(logs, part) {
					t.Fatalf("dry-run log shows part of the PSK (%q):\n%s", part, logs)
				}
			}
		})
	}
}

// TestRawSDKErrorStaysInTheLog: a refused call reaches the ping answer and the saved target
// state (status page, webhooks) as the API's code and status only; the function's log has
// the SDK's full text.
func TestRawSDKErrorStaysInTheLog(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.InjectError("CreateCustomerGateway", 1, 400, "IllegalParam.IpAddress")
	res := e.vpn(e.ctx(time.Minute), newIP, ModePing)
	w := res.Wire()
	if res.State != wire.StateError || !strings.Contains(w.Error, "IllegalParam.IpAddress") || !strings.Contains(w.Error, "HTTP 400") {
		t.Fatalf("answer: %+v, want the code and status", w)
	}
	st, _, _ := e.r.State.GetTarget(e.ctx(time.Minute), vpnTarget.Key())
	raw := strings.ToLower(res.Err.Error())
	for _, text := range []string{w.Error, st.LastError} {
		for _, leak := range []string{"sdkerror", "request id", "requestid", "data:"} {
			if strings.Contains(strings.ToLower(text), leak) {
				t.Fatalf("public text %q carries the SDK's %q", text, leak)
			}
		}
	}
	if !strings.Contains(raw, "sdkerror") || !strings.Contains(strings.ToLower(e.logs.String()), "sdkerror") {
		t.Fatalf("the full text is not in the log:\n%s", e.logs.String())
	}
}

// TestNetworkErrorText: a transport error's URL carries every parameter of the call (a PSK
// too): the public text names the host, the log text drops the query.
func TestNetworkErrorText(t *testing.T) {
	ue := &url.Error{Op: "Post", URL: "http://vpc.example.com:8080/?Action=CreateVpnConnection&IkeConfig=%7B%22Psk%22%3A%22s3cret%22%7D",
		Err: errors.New("dial tcp: connection refused")}
	err := fmt.Errorf("vpn to-hz: CreateVpnConnection: %w", ue)
	pub, log := PublicError(err), LogError(err)
	if pub != "vpn to-hz: CreateVpnConnection: network error: the call to vpc.example.com:8080 failed" {
		t.Fatalf("public: %q", pub)
	}
	if strings.Contains(log, "s3cret") || strings.Contains(log, "Psk") || !strings.Contains(log, "connection refused") || !strings.Contains(log, "vpc.example.com") {
		t.Fatalf("log: %q", log)
	}
}

// TestRetriesOutOfTimeShowTheCode: a call still throttled when the deadline nears reports
// the last error's code, not the SDK's text.
func TestRetriesOutOfTimeShowTheCode(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.Throttle("DescribeSubDomainRecords", 100)
	rec := DNSRecord{Zone: "example.com", RR: "hz", Type: "A"}
	rec.SetDefaults()
	rs := e.r.Reconcile(e.ctx(20*time.Second), v4(newIP), Targets{DNS: []DNSRecord{rec}}, ModeTimer)
	w := rs[0].Wire()
	if !errors.Is(rs[0].Err, ErrDeadline) || !strings.Contains(w.Error, "Throttling") || strings.Contains(strings.ToLower(w.Error), "sdkerror") {
		t.Fatalf("got %+v, want the deadline with the throttling code only", w)
	}
}
