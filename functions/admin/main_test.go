package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/fcemu"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
	"github.com/spf13/pflag"
)

func envMap(m map[string]string) env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func runCLI(t *testing.T, e map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, envMap(e), &out, &errb)
	code := exitCode(err, &errb)
	return code, out.String(), errb.String()
}

func TestKeygenAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "keygen")
	if code != 0 || len(strings.TrimSpace(out)) != 48 {
		t.Fatalf("keygen: %d %q", code, out)
	}
	if _, again, _ := runCLI(t, nil, "keygen"); again == out {
		t.Fatalf("keygen twice: the same secret %q", out)
	}
	_, out2, _ := runCLI(t, map[string]string{"PPTER_ADMIN_BYTES": "32"}, "keygen")
	if len(strings.TrimSpace(out2)) != 64 {
		t.Fatalf("keygen with PPTER_ADMIN_BYTES=32: got %q, want 64 hex characters", out2)
	}
	if _, out, _ := runCLI(t, map[string]string{"PPTER_ADMIN_BYTES": "32"}, "keygen", "--bytes", "16"); len(strings.TrimSpace(out)) != 32 {
		t.Fatalf("keygen --bytes 16 beside PPTER_ADMIN_BYTES=32: got %q, want 32 hex characters", out)
	}
	code, out, _ = runCLI(t, nil, "--help")
	for _, c := range commands {
		if !strings.Contains(out, "ppter-admin "+c.name) {
			t.Errorf("help lacks %s", c.name)
		}
	}
	(&opts{}).flags().VisitAll(func(f *pflag.Flag) {
		env, ok := flagEnv[f.Name]
		if !ok || !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, "(env "+env+")") {
			t.Errorf("help lacks --%s with its environment variable (%q)", f.Name, env)
		}
	})
	if code != 0 || !strings.Contains(out, "Exit codes:") {
		t.Fatalf("help: %d, without exit codes: %s", code, out)
	}
	// No command: the usage goes to stderr, as a refused command prints nothing on stdout.
	if code, out, errs := runCLI(t, nil); code != exitUsage || out != "" || !strings.Contains(errs, "Exit codes:") || !strings.Contains(errs, "no command given") {
		t.Fatalf("no command: got %d, stdout %q, stderr %q; want %d, nothing on stdout, the usage on stderr", code, out, errs, exitUsage)
	}
	code, out, _ = runCLI(t, nil, "vpn", "--help")
	if code != 0 || !strings.Contains(out, "--gateway ID") || !strings.Contains(out, "(env FC_REGION)") || strings.Contains(out, "--zone") {
		t.Fatalf("vpn --help: %d %s", code, out)
	}
}

// TestFailures runs every command's failure cases against an emulator and a config that
// would let them work: each is refused with its exit code and message, prints nothing on
// stdout and makes no cloud call.
func TestFailures(t *testing.T) {
	ali := aliyunemu.New(t, aliyunemu.Options{})
	ali.AddZone("example.com", false)
	id, secret, _ := ali.Credentials()
	dir := t.TempDir()
	cfg := func(name, aliyun string) string {
		path := filepath.Join(dir, name)
		yaml := "redis: {url: 'memory://'}\naliyun: {" + aliyun + "dns_endpoint: '" + ali.Endpoint + "', vpc_endpoint: '" + ali.Endpoint + "', protocol: http}\nsites:\n  hz: {key: 'hz-secret-0123456789'}\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	withRegion, noRegion := cfg("region.yaml", "region: cn-hangzhou, "), cfg("noregion.yaml", "")
	full := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret, "PPTER_CONFIG": withRegion, "PPTER_ADMIN_TOKEN": "admin-token-0123456789abcdef"}
	with := func(kv ...string) map[string]string {
		e := maps.Clone(full)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(e, kv[i])
			} else {
				e[kv[i]] = kv[i+1]
			}
		}
		return e
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", full, nil, "no command given"},
		{"unknown command", full, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"keygen unknown flag", full, []string{"keygen", "--nope"}, "keygen: unknown flag: --nope (keygen takes --bytes)"},
		{"keygen bytes too small", full, []string{"keygen", "--bytes", "8"}, "--bytes must be 16 to 64"},
		{"keygen bytes env too small", with("PPTER_ADMIN_BYTES", "8"), []string{"keygen"}, "--bytes must be 16 to 64"},
		{"keygen bytes env not a number", with("PPTER_ADMIN_BYTES", "many"), []string{"keygen"}, `PPTER_ADMIN_BYTES: invalid argument "many"`},
		{"keygen stray argument", full, []string{"keygen", "extra"}, `keygen: unexpected argument "extra"`},
		{"check-config without file", with("PPTER_CONFIG", ""), []string{"check-config"}, "--config (or PPTER_CONFIG) is required"},
		{"check-config missing file", full, []string{"check-config", "--config", filepath.Join(dir, "nope.yaml")}, "read config:"},
		{"check-config zone", full, []string{"check-config", "--zone", "example.com"}, "check-config: unknown flag: --zone (check-config takes --config)"},
		{"status without url", full, []string{"status"}, "--url (or PPTER_URL) is required"},
		{"status without token", with("PPTER_ADMIN_TOKEN", ""), []string{"status", "--url", "http://127.0.0.1:1"}, "no admin token"},
		{"status token file missing", full, []string{"status", "--url", "http://127.0.0.1:1", "--token-file", filepath.Join(dir, "nope")}, "read token file:"},
		{"status events env", with("PPTER_URL", "http://127.0.0.1:1", "PPTER_ADMIN_EVENTS", "all"), []string{"status"}, `PPTER_ADMIN_EVENTS: invalid argument "all"`},
		{"status gateway", full, []string{"status", "--url", "http://127.0.0.1:1", "--gateway", "g"}, "status: unknown flag: --gateway (status takes --url, --token-file, --events, --json)"},
		{"dns-records without zone", full, []string{"dns-records"}, "--zone is required"},
		{"dns-records gateway", full, []string{"dns-records", "--zone", "example.com", "--gateway", "g"}, "dns-records: unknown flag: --gateway (dns-records takes --zone, --config, --region)"},
		{"dns-records without region", with("PPTER_CONFIG", noRegion), []string{"dns-records", "--zone", "example.com"}, "no region: set FC_REGION"},
		{"dns-records without config nor region", with("PPTER_CONFIG", ""), []string{"dns-records", "--zone", "example.com"}, "no region: set FC_REGION"},
		{"dns-records without credentials", with("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""), []string{"dns-records", "--zone", "example.com"}, "no credentials"},
		{"dns-records config missing", with("PPTER_CONFIG", filepath.Join(dir, "nope.yaml")), []string{"dns-records", "--zone", "example.com"}, "read config:"},
		{"vpn zone", full, []string{"vpn", "--gateway", "vpn-bp1gw000000000001", "--zone", "example.com"}, "vpn: unknown flag: --zone (vpn takes --gateway, --config, --region)"},
		{"vpn without gateway", with("PPTER_ADMIN_ZONE", "example.com"), []string{"vpn"}, "--gateway is required"},
		{"vpn without region", with("PPTER_CONFIG", noRegion), []string{"vpn", "--gateway", "vpn-bp1gw000000000001"}, "no region: set FC_REGION"},
		{"vpn without credentials", with("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), []string{"vpn", "--gateway", "vpn-bp1gw000000000001"}, "no credentials"},
		{"vpn-op alone", full, []string{"vpn-op"}, "vpn-op needs show or resume"},
		{"vpn-op unknown", full, []string{"vpn-op", "frob"}, "vpn-op needs show or resume"},
		{"vpn-op show region", full, []string{"vpn-op", "show", "--gateway", "g", "--connection", "c", "--region", "cn-beijing"}, "vpn-op show: unknown flag: --region (vpn-op show takes --gateway, --connection, --tunnel, --config)"},
		{"vpn-op show without connection", full, []string{"vpn-op", "show", "--gateway", "g"}, "vpn-op show needs --config (or PPTER_CONFIG), --gateway and --connection"},
		{"vpn-op resume timeout env", with("PPTER_ADMIN_TIMEOUT", "soon"), []string{"vpn-op", "resume", "--gateway", "g", "--connection", "c"}, `PPTER_ADMIN_TIMEOUT: invalid argument "soon"`},
		{"vpn-op show bad tunnel", full, []string{"vpn-op", "show", "--gateway", "g", "--connection", "c", "--tunnel", "primary"}, `vpn-op show: invalid argument "primary" for "--tunnel" flag: "primary" is not a tunnel role (master or slave)`},
		{"vpn-op resume bad tunnel env", with("PPTER_ADMIN_TUNNEL", "backup"), []string{"vpn-op", "resume", "--gateway", "g", "--connection", "c"}, `PPTER_ADMIN_TUNNEL: invalid argument "backup" for "--tunnel" flag: "backup" is not a tunnel role (master or slave)`},
		{"vpn-op resume memory redis", full, []string{"vpn-op", "resume", "--gateway", "g", "--connection", "c"}, "vpn-op reads the function's Redis; redis.url is memory://…"},
		{"version flag", full, []string{"version", "--json"}, "version: unknown flag: --json (version takes no flags)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tt.env, tt.args...)
			if code != exitUsage || !strings.Contains(errs, "ppter-admin: "+tt.want) {
				t.Errorf("got %d %q, want %d with %q", code, errs, exitUsage, tt.want)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
		})
	}
	if n := ali.TotalCalls(); n != 0 {
		t.Errorf("refused commands made %d cloud calls (%v), want none", n, ali.CallLog())
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("redis: {url: 'memory://'}\naliyun: {region: cn-hangzhou}\nsites:\n  hz: {key: '${K}', dns: [{zone: example.com, rr: hz, type: A}]}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("redis: {url: 'memory://'}\nsites:\n  hz: {key: '${K}', dns: [{zone: example.com, rr: hz, type: A, ttl: 5}]}\n"), 0o600)
	if code, out, errs := runCLI(t, map[string]string{"K": "0123456789abcdefgh"}, "check-config", "--config", good); code != 0 || !strings.Contains(out, "1 sites, 1 cloud targets") {
		t.Fatalf("good config: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"K": "0123456789abcdefgh"}, "check-config", "--config", bad); code != 2 || !strings.Contains(errs, "sites.hz.dns[0].ttl") {
		t.Fatalf("bad config: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"PPTER_CONFIG": good}, "check-config"); code != 2 || !strings.Contains(errs, "environment variable K is not set") {
		t.Fatalf("missing env: %d %s", code, errs)
	}
}

// TestStatusAgainstTheFunction: status prints the fleet as tables, a row per line of a
// site with lines and a LINE column in the events once an event has a line.
func TestStatusAgainstTheFunction(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	os.WriteFile(path, []byte("redis: {url: 'memory://'}\nadmin: {token: '"+token+"'}\nsites:\n  hz: {key: 'hz-secret-0123456789', basic: true}\n  bj: {key: 'bj-secret-0123456789'}\n"+
		"  gz: {key: 'gz-secret-0123456789', lines: [telecom, unicom]}\n"), 0o600)
	emu := fcemu.StartT(t, fcemu.Options{Env: []string{"PPTER_CONFIG=" + path}, TrustSourceHeader: true})
	ping := func(auth, src string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", emu.URL+wire.PathPing, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set(fcemu.SourceHeader, src)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("ping from %s: %v %v", src, resp, err)
		}
		resp.Body.Close()
	}
	ping("Basic "+base64.StdEncoding.EncodeToString([]byte("hz:hz-secret-0123456789")), "203.0.113.7", nil)
	code, out, errs := runCLI(t, map[string]string{"PPTER_ADMIN_TOKEN": token}, "status", "--url", emu.URL)
	if code != 0 || !hasRow(out, "hz 203.0.113.7") || !hasRow(out, "WHEN SITE EVENT DETAIL") || strings.Contains(out, "LINE") ||
		!hasRow(out, "gz/telecom - - never") || !hasRow(out, "gz/unicom - - never") {
		t.Fatalf("status before any line pinged: %d, want both of gz's lines never seen and no LINE column\n%s\n%s", code, out, errs)
	}
	body := []byte(`{"agent":"admin-test","line":"unicom"}`)
	ping(auth.Header("gz", []byte("gz-secret-0123456789"), http.MethodPost, wire.PathPing, time.Now().Unix(), auth.NewNonce(), body), "198.51.100.20", body)
	code, out, errs = runCLI(t, map[string]string{"PPTER_ADMIN_TOKEN": token}, "status", "--url", emu.URL)
	want := []string{"gz - - never", "gz/telecom - - never", "gz/unicom 198.51.100.20", "WHEN SITE LINE EVENT DETAIL", "gz unicom address_changed", "hz - address_changed"}
	for _, w := range want {
		if code != 0 || !hasRow(out, w) {
			t.Fatalf("status after gz's unicom pinged: got %d\n%s\n%s\nwant %q", code, out, errs, w)
		}
	}
	code, _, errs = runCLI(t, map[string]string{"PPTER_ADMIN_TOKEN": "wrong-token-0123456789"}, "status", "--url", emu.URL)
	if code != 1 || !strings.Contains(errs, "401 unauthorized") {
		t.Fatalf("wrong token: %d %s", code, errs)
	}
}

// hasRow reports whether a row of the table out holds the words of row, from its first
// column (a row of events from its second: after the date and time).
func hasRow(out, row string) bool {
	want := strings.Fields(row)
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(l)
		for _, skip := range []int{0, 2} {
			if len(f) >= skip+len(want) && slices.Equal(f[skip:skip+len(want)], want) {
				return true
			}
		}
	}
	return false
}

func TestListings(t *testing.T) {
	ali := aliyunemu.New(t, aliyunemu.Options{})
	ali.AddZone("example.com", false)
	ali.PutRecord("example.com", "hz.vpn", "A", "203.0.113.7", 600)
	ali.SeedTunnel("vpn-bp1gw000000000001", "to-hz", "203.0.113.7", "psk-0123456789")
	id, secret, _ := ali.Credentials()
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	os.WriteFile(path, []byte("redis: {url: 'memory://'}\naliyun: {region: cn-hangzhou, dns_endpoint: '"+ali.Endpoint+"', vpc_endpoint: '"+ali.Endpoint+"', protocol: http}\nsites:\n  hz: {key: 'hz-secret-0123456789'}\n"), 0o600)
	e := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret, "PPTER_CONFIG": path}
	code, out, errs := runCLI(t, e, "dns-records", "--zone", "example.com")
	if code != 0 || !strings.Contains(out, "hz.vpn") || !strings.Contains(out, "203.0.113.7") {
		t.Fatalf("dns-records: %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, e, "vpn", "--gateway", "vpn-bp1gw000000000001")
	if code != 0 || !strings.Contains(out, "to-hz") || strings.Contains(out, "psk-0123456789") {
		t.Fatalf("vpn: %d\n%s\n%s", code, out, errs)
	}
	ali.SeedDualTunnel("vpn-bp1gw000000000002", "to-bj", "203.0.113.8", "psk-bj-0123456789")
	code, out, errs = runCLI(t, e, "vpn", "--gateway", "vpn-bp1gw000000000002")
	if code != 0 || !strings.Contains(out, "dual-tunnel") || !strings.Contains(out, "47.0.0.2") || !strings.Contains(out, "slave") ||
		strings.Contains(out, "psk-bj-0123456789") {
		t.Fatalf("vpn (dual-tunnel): %d\n%s\n%s", code, out, errs)
	}
	// The region as the function takes it: aliyun.region, else FC_REGION; --region beats both.
	noRegion := filepath.Join(t.TempDir(), "noregion.yaml")
	os.WriteFile(noRegion, []byte("redis: {url: 'memory://'}\naliyun: {vpc_endpoint: '"+ali.Endpoint+"', protocol: http}\nsites:\n  hz: {key: 'hz-secret-0123456789'}\n"), 0o600)
	fromEnv := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret, "PPTER_CONFIG": noRegion, "FC_REGION": ali.Region(), "PPTER_ADMIN_GATEWAY": "vpn-bp1gw000000000001"}
	if code, out, errs := runCLI(t, fromEnv, "vpn"); code != 0 || !strings.Contains(out, "to-hz") {
		t.Fatalf("vpn with FC_REGION and PPTER_ADMIN_GATEWAY: %d\n%s\n%s", code, out, errs)
	}
	for _, env := range []map[string]string{e, fromEnv} {
		if code, _, errs := runCLI(t, env, "vpn", "--gateway", "vpn-bp1gw000000000001", "--region", "cn-beijing"); code != 1 || !strings.Contains(errs, "cn-beijing") {
			t.Fatalf("vpn --region cn-beijing: got %d %s, want the emulator (cn-hangzhou) to refuse cn-beijing", code, errs)
		}
	}
	ali.TakeUnexpected() // the refused region
	code, _, errs = runCLI(t, e, "dns-records", "--zone", "nope.example")
	if code != 1 || errs == "" {
		t.Fatalf("unknown zone: %d %s", code, errs)
	}
	e["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "wrong"
	code, _, errs = runCLI(t, e, "vpn", "--gateway", "vpn-bp1gw000000000001")
	if code != 1 || errs == "" {
		t.Fatalf("bad signature: %d %s", code, errs)
	}
	ali.TakeUnexpected() // the refused bad-signature request is expected here
}
