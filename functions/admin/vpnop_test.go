package main

import (
	"context"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/app"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/wire"
)

const testStateKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// TestVPNOpShowResume: a single-tunnel re-point stopped after the delete (the create was
// refused) is shown with its PSK redacted, then finished by vpn-op resume with the saved
// settings, which clears it.
func TestVPNOpShowResume(t *testing.T) {
	ali, e, _ := stoppedRepoint(t)

	code, out, errs := runCLI(t, e, "vpn-op", "show", "--gateway", "vpn-bp1gw000000000001", "--connection", "to-hz")
	if code != 0 || !strings.Contains(out, `"step": 2`) || !strings.Contains(out, "[REDACTED]") || strings.Contains(out, "psk-0123456789") {
		t.Fatalf("show: %d\n%s\n%s", code, out, errs)
	}
	// Refused resumes leave the saved op and the gateway as they were.
	saved, calls := out, ali.MutatingCalls()
	refused := []struct {
		name, unset, secret string
		args                []string
		code                int
		want                string
	}{
		{"show without the state key", "PPTER_STATE_KEY", "", []string{"show"}, 2, "PPTER_STATE_KEY"},
		{"resume without the state key", "PPTER_STATE_KEY", "", []string{"resume"}, 2, "PPTER_STATE_KEY"},
		{"resume without credentials", "ALIBABA_CLOUD_ACCESS_KEY_ID", "", []string{"resume"}, 2, "no credentials"},
		{"resume with a misspelt flag", "", "", []string{"resume", "--conection", "to-hz"}, 2, "vpn-op resume: unknown flag: --conection"},
		{"resume with a zone", "", "", []string{"resume", "--zone", "example.com"}, 2, "vpn-op resume: unknown flag: --zone"},
		{"resume with a bad signature", "", "wrong", []string{"resume"}, 1, "vpn-op resume:"},
	}
	for _, tt := range refused {
		env := maps.Clone(e)
		delete(env, tt.unset)
		if tt.secret != "" {
			env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = tt.secret
		}
		args := append([]string{"vpn-op"}, tt.args...)
		args = append(args, "--gateway", "vpn-bp1gw000000000001", "--connection", "to-hz")
		if code, _, errs := runCLI(t, env, args...); code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%s: got %d %s, want %d with %q", tt.name, code, errs, tt.code, tt.want)
		}
		if _, out, _ := runCLI(t, e, "vpn-op", "show", "--gateway", "vpn-bp1gw000000000001", "--connection", "to-hz"); out != saved {
			t.Fatalf("%s: the saved op changed:\n%s\nwant\n%s", tt.name, out, saved)
		}
		if n := ali.MutatingCalls(); n != calls || len(ali.Connections()) != 0 {
			t.Fatalf("%s: %d cloud writes, %d connections; want none", tt.name, n-calls, len(ali.Connections()))
		}
	}
	ali.TakeUnexpected() // the refused bad-signature requests

	code, out, errs = runCLI(t, e, "vpn-op", "resume", "--gateway", "vpn-bp1gw000000000001", "--connection", "to-hz")
	if code != 0 || !strings.Contains(out, "finished: 203.0.113.7") || strings.Contains(out+errs, "psk-0123456789") {
		t.Fatalf("resume: %d\n%s\n%s", code, out, errs)
	}
	conns := ali.Connections()
	if len(conns) != 1 || conns[0].Ike.Psk != "psk-0123456789" {
		t.Fatalf("after resume: %+v", conns)
	}
	for _, g := range ali.CustomerGateways() {
		if g.ID == conns[0].CustomerGatewayID && g.IP != "203.0.113.7" {
			t.Fatalf("connection on %s, want 203.0.113.7", g.IP)
		}
	}
	code, out, _ = runCLI(t, e, "vpn-op", "show", "--gateway", "vpn-bp1gw000000000001", "--connection", "to-hz")
	if code != 0 || !strings.Contains(out, "no re-point saved") {
		t.Fatalf("show after resume: %d %s", code, out)
	}
}

// TestVPNOpResumeOutput: a resume that fails part-way prints the op as it left it, then the
// error; one that fails before it has an op (the target's lock held) prints nothing.
func TestVPNOpResumeOutput(t *testing.T) {
	ali, e, st := stoppedRepoint(t)
	args := []string{"--gateway", "vpn-bp1gw000000000001", "--connection", "to-hz"}
	vpnOp := func(sub string) (int, string, string) {
		t.Helper()
		return runCLI(t, e, append([]string{"vpn-op", sub}, args...)...)
	}

	ali.InjectError("CreateVpnConnection", 1, 400, "InvalidParameter")
	code, out, errs := vpnOp("resume")
	_, saved, _ := vpnOp("show")
	if code != 1 || out != saved || !strings.Contains(out, `"step": 2`) || !strings.Contains(errs, "vpn-op resume: vpn to-hz: ") ||
		!strings.Contains(errs, "InvalidParameter") {
		t.Fatalf("resume refused part-way: got %d\n%s\n%s\nwant 1, the saved op\n%s\nthen the error", code, out, errs, saved)
	}

	ctx := context.Background()
	k := cloud.VPNConn{Gateway: "vpn-bp1gw000000000001", Connection: "to-hz"}.Key()
	token, ok, err := st.Lock(ctx, k, time.Minute) // a reconcile of the target under way
	if !ok || err != nil {
		t.Fatalf("lock: %v, %v", ok, err)
	}
	defer func() { _ = st.Unlock(ctx, k, token) }()
	calls := ali.MutatingCalls()
	if code, out, errs := vpnOp("resume"); code != 1 || out != "" || errs != "ppter-admin: vpn-op resume: "+cloud.ErrTargetBusy.Error()+"\n" {
		t.Fatalf("resume of a busy target: got %d\n%s\n%s\nwant 1, nothing printed, the error", code, out, errs)
	}
	if n := ali.MutatingCalls(); n != calls {
		t.Fatalf("the refused resume made %d cloud writes", n-calls)
	}
}

// stoppedRepoint seeds a single-tunnel connection and runs the function's reconcile with
// the create after the delete refused, leaving the re-point saved in Redis. It returns the
// emulator, the CLI's environment and the function's state in that Redis.
func stoppedRepoint(t *testing.T) (*aliyunemu.Server, map[string]string, cloud.State) {
	t.Helper()
	ali := aliyunemu.New(t, aliyunemu.Options{})
	ali.SeedTunnel("vpn-bp1gw000000000001", "to-hz", "198.51.100.2", "psk-0123456789")
	e, cfg := cliConfig(t, ali, "  hz: {key: 'hz-secret-0123456789', vpn: [{gateway: vpn-bp1gw000000000001, connection: to-hz}]}\n")

	// The function's reconcile: the create after the delete is refused, leaving the op saved.
	ali.InjectError("CreateVpnConnection", 1, 400, "InvalidParameter")
	r := functionReconciler(t, ali, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := r.Reconcile(ctx, cloud.Addrs{IPv4: netip.MustParseAddr("203.0.113.7")}, cloud.Targets{VPN: []cloud.VPNConn{{Gateway: "vpn-bp1gw000000000001", Connection: "to-hz"}}}, cloud.ModePing)
	if res[0].State != wire.StateError || len(ali.Connections()) != 0 {
		t.Fatalf("reconcile: %+v, %d connections; want an error with the connection deleted", res[0], len(ali.Connections()))
	}
	return ali, e, r.State
}

// cliConfig writes the function's config on a fresh Redis namespace (single node) and ali's
// VPC endpoint with sites, and returns the CLI's environment for it and the parsed config.
func cliConfig(t *testing.T, ali *aliyunemu.Server, sites string) (map[string]string, *config.Config) {
	t.Helper()
	id, secret, _ := ali.Credentials()
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	yaml := "redis: {url: '" + redistest.URL(t) + "', prefix: '" + redistest.Namespace() + "', single_node: true}\n" +
		"aliyun: {region: cn-hangzhou, vpc_endpoint: '" + ali.Endpoint + "', protocol: http}\n" +
		"sites:\n" + sites
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret, "PPTER_CONFIG": path, "PPTER_STATE_KEY": testStateKey}
	cfg, err := config.Parse([]byte(yaml), envMap(e), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, cfg
}

// functionReconciler is the function's reconciler for cfg: ali's VPC and cfg's Redis state.
func functionReconciler(t *testing.T, ali *aliyunemu.Server, cfg *config.Config) *cloud.Reconciler {
	t.Helper()
	id, secret, _ := ali.Credentials()
	vpcc, err := cloud.NewVPCClient(cloud.ClientConfig{Region: "cn-hangzhou", VPCEndpoint: ali.Endpoint, Protocol: "http",
		Credentials: cloud.Credentials{AccessKeyID: id, AccessKeySecret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	return cloud.New(cloud.Reconciler{VPC: vpcc, State: cloud.NewRedis(redistest.Client(t), cfg.Redis.Prefix, app.StateOptions(cfg)), Region: "cn-hangzhou"})
}

// TestVPNOpTunnel: the re-point of one tunnel of a connection whose tunnels follow two
// lines is saved under GATEWAY/CONNECTION#master; vpn-op reaches it with --tunnel master
// (or PPTER_ADMIN_TUNNEL), and resume moves only that tunnel.
func TestVPNOpTunnel(t *testing.T) {
	const gw, slaveIP = "vpn-bp1gw000000000002", "198.51.100.3"
	ali := aliyunemu.New(t, aliyunemu.Options{})
	orig := ali.SeedDualTunnel(gw, "to-gz", slaveIP, "psk-gz-0123456789")
	e, cfg := cliConfig(t, ali, "  gz: {key: 'gz-secret-0123456789', lines: [telecom, unicom], vpn: [{gateway: "+gw+", connection: to-gz, tunnels: {master: telecom, slave: unicom}}]}\n")
	units := cfg.Sites["gz"].Units()
	if len(units) != 2 || units[0].Targets.VPN[0].Key().Name != gw+"/to-gz#master" {
		t.Fatalf("units: %+v, want the master's and the slave's targets", units)
	}

	// The function's reconcile of the telecom line: the master's modify is refused, leaving the op saved.
	ali.InjectError("ModifyVpnConnectionAttribute", 1, 400, "InvalidParameter")
	r := functionReconciler(t, ali, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if res := r.Reconcile(ctx, cloud.Addrs{IPv4: netip.MustParseAddr("203.0.113.7")}, units[0].Targets, cloud.ModePing); res[0].State != wire.StateError {
		t.Fatalf("reconcile: %+v, want an error", res[0])
	}

	args := []string{"--gateway", gw, "--connection", "to-gz"}
	show := func(env map[string]string, extra ...string) (int, string, string) {
		return runCLI(t, env, append(append([]string{"vpn-op", "show"}, args...), extra...)...)
	}
	code, out, errs := show(e)
	if code != 0 || !strings.Contains(out, "no re-point saved for to-gz on "+gw) {
		t.Fatalf("show without --tunnel: got %d\n%s\n%s\nwant no re-point saved for the connection as a whole", code, out, errs)
	}
	code, saved, errs := show(e, "--tunnel", "master")
	if code != 0 || !strings.Contains(saved, `"roles": [`) || !strings.Contains(saved, "[REDACTED]") || strings.Contains(saved, "psk-gz-0123456789") {
		t.Fatalf("show --tunnel master: %d\n%s\n%s", code, saved, errs)
	}
	if code, out, _ := show(with(e, "PPTER_ADMIN_TUNNEL", "master")); code != 0 || out != saved {
		t.Fatalf("show with PPTER_ADMIN_TUNNEL=master: got %d\n%s\nwant\n%s", code, out, saved)
	}
	if code, out, _ := show(with(e, "PPTER_ADMIN_TUNNEL", "master"), "--tunnel", "slave"); code != 0 || !strings.Contains(out, "no re-point saved for to-gz/slave") {
		t.Fatalf("show --tunnel slave beside PPTER_ADMIN_TUNNEL=master: got %d %s, want the slave's (none saved)", code, out)
	}
	calls := ali.MutatingCalls()
	if code, _, errs := runCLI(t, e, append(append([]string{"vpn-op", "resume"}, args...), "--tunnel", "both")...); code != 2 || !strings.Contains(errs, "(master or slave)") {
		t.Fatalf("resume --tunnel both: got %d %s, want 2 naming master and slave", code, errs)
	}
	if _, out, _ := show(e, "--tunnel", "master"); out != saved || ali.MutatingCalls() != calls {
		t.Fatalf("the refused resume changed the saved op or the gateway:\n%s", out)
	}

	code, out, errs = runCLI(t, e, append(append([]string{"vpn-op", "resume"}, args...), "--tunnel", "master")...)
	if code != 0 || !strings.Contains(out, "re-point of to-gz/master finished: 203.0.113.7") || strings.Contains(out+errs, "psk-gz-0123456789") {
		t.Fatalf("resume --tunnel master: %d\n%s\n%s", code, out, errs)
	}
	conns := ali.Connections()
	if len(conns) != 1 || len(conns[0].Tunnels) != 2 {
		t.Fatalf("after resume: %+v", conns)
	}
	master, slave := conns[0].Tunnels[0], conns[0].Tunnels[1]
	for _, g := range ali.CustomerGateways() {
		if g.ID == master.CustomerGatewayID && g.IP != "203.0.113.7" {
			t.Fatalf("master tunnel on %s, want 203.0.113.7", g.IP)
		}
	}
	if slave.CustomerGatewayID != orig.Tunnels[1].CustomerGatewayID || slave.Ike.RemoteId != slaveIP {
		t.Fatalf("slave tunnel moved: %+v, was %+v", slave, orig.Tunnels[1])
	}
	if code, out, _ := show(e, "--tunnel", "master"); code != 0 || !strings.Contains(out, "no re-point saved for to-gz/master") {
		t.Fatalf("show after resume: %d %s", code, out)
	}
}

// with returns a copy of e with k set to v.
func with(e map[string]string, k, v string) map[string]string {
	c := maps.Clone(e)
	c[k] = v
	return c
}
