package config

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/shared/site"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func noFiles(string) ([]byte, error) { return nil, os.ErrNotExist }

const base = `
redis: { url: "redis://127.0.0.1:6379/0" }
sites:
  hz: { key: "${KEY_HZ}" }
  bj: { key: "0123456789abcdef-bj" }
`

var baseEnv = map[string]string{"KEY_HZ": "0123456789abcdef-hz"}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(base), envOf(baseEnv), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Sites["hz"].Key, "0123456789abcdef-hz"; got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
	if got := c.Ping.StaleAfter; got != 3*time.Minute {
		t.Errorf("stale_after = %v, want 3m", got)
	}
	if got := c.Redis.Prefix; got != "{ppter}" {
		t.Errorf("prefix = %q, want {ppter}", got)
	}
	if got := c.Peers("hz"); len(got) != 1 || got[0] != "bj" {
		t.Errorf("peers(hz) = %v, want [bj]", got)
	}
	if got := len(c.SiteNames); got != 2 || c.SiteNames[0] != "bj" {
		t.Errorf("SiteNames = %v, want [bj hz]", c.SiteNames)
	}
}

func parseExample(t *testing.T) *Config {
	t.Helper()
	c, err := Parse(Example, envOf(map[string]string{
		"PPTER_KEY_HZ": "0123456789abcdef-hz", "PPTER_KEY_BJ": "0123456789abcdef-bj", "PPTER_ADMIN_TOKEN": "0123456789abcdef-admin",
		"PPTER_STATE_KEY": testStateKey,
	}), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExampleParses(t *testing.T) {
	c := parseExample(t)
	if !c.Aliyun.DryRun || c.Redis.URL != "memory://" {
		t.Errorf("example = %+v, want dry run on the memory store", c)
	}
	if r := c.Sites["hz"].DNS[0]; r.Name() != "hz.vpn.example.com/A" || r.Line != "default" {
		t.Errorf("dns = %+v", r)
	}
	if v := c.Sites["hz"].VPN[0]; v.Strategy != "" || v.MinInterval != 5*time.Minute {
		t.Errorf("vpn = %+v, want recreate every 5m", v)
	}
}

func TestEnvValuesStayStrings(t *testing.T) {
	// A secret that looks like YAML must not change the document's structure or type.
	env := map[string]string{"KEY_HZ": "0123456789: #{x} yes\nz"}
	c, err := Parse([]byte(base), envOf(env), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sites["hz"].Key; got != env["KEY_HZ"] {
		t.Errorf("key = %q, want %q", got, env["KEY_HZ"])
	}
}

func TestFileReference(t *testing.T) {
	files := func(p string) ([]byte, error) {
		if p == "/run/secrets/hz" {
			return []byte("0123456789abcdef-file\n"), nil
		}
		return nil, os.ErrNotExist
	}
	c, err := Parse([]byte(base), envOf(map[string]string{"KEY_HZ_FILE": "/run/secrets/hz"}), files)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sites["hz"].Key; got != "0123456789abcdef-file" {
		t.Errorf("key = %q, want the file's content", got)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string // substring of the error
	}{
		{"missing env var", base, map[string]string{}, "sites.hz.key: environment variable KEY_HZ is not set"},
		{"not yaml", "redis: [", baseEnv, "invalid config"},
		{"unknown top key", base + "bogus: 1\n", baseEnv, "field bogus not found"},
		{"unknown site key", strings.Replace(base, `key: "${KEY_HZ}"`, `key: "${KEY_HZ}", tust_myip: true`, 1), baseEnv, "field tust_myip not found"},
		{"no redis url", "sites: {hz: {key: 0123456789abcdefgh}}", nil, "redis.url: missing"},
		{"bad redis scheme", strings.Replace(base, "redis://127.0.0.1:6379/0", "http://x", 1), baseEnv, `redis.url: scheme "http" not supported`},
		{"redis no host", strings.Replace(base, "redis://127.0.0.1:6379/0", "redis://", 1), baseEnv, "redis.url: no host"},
		{"prefix without tag", strings.Replace(base, `url: "redis://127.0.0.1:6379/0"`, `url: "redis://127.0.0.1:6379/0", prefix: "ppter"`, 1), baseEnv, "redis.prefix: must contain one {hash tag}"},
		{"no sites", `redis: { url: "memory://" }`, nil, "sites: no sites configured"},
		{"bad site name", strings.Replace(base, "bj:", "Bj:", 1), baseEnv, `invalid config: sites: invalid site name "Bj"`},
		{"duplicate site", base + "  hz: { key: 0123456789abcdefgh }\n", baseEnv, `mapping key "hz" already defined`},
		{"missing key", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ peers: [hz] }`, 1), baseEnv, "sites.bj.key: missing"},
		{"short key", strings.Replace(base, "0123456789abcdef-bj", "short", 1), baseEnv, "sites.bj.key: shorter than 16"},
		{"unknown peer", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", peers: [sh] }`, 1), baseEnv, `sites.bj.peers[0]: unknown site "sh"`},
		{"bad peer name", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", peers: [Hz] }`, 1), baseEnv, `invalid config: sites.bj.peers[0]: invalid site name "Hz"`},
		{"bad peer name from the environment", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", peers: ["${PEER}"] }`, 1), map[string]string{"KEY_HZ": "0123456789abcdef-hz", "PEER": "Hz"}, `invalid config: sites.bj.peers[0]: invalid site name "Hz"`},
		{"self peer", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", peers: [bj] }`, 1), baseEnv, "own peer"},
		{"ttl too small", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", dns: [{zone: example.com, rr: bj, type: A, ttl: 60}] }`, 1), baseEnv, "sites.bj.dns[0].ttl: 60 is outside 600"},
		{"bad record type", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", dns: [{zone: example.com, rr: bj, type: CNAME}] }`, 1), baseEnv, "sites.bj.dns[0].type: must be A or AAAA"},
		{"bad zone", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", dns: [{zone: "exa mple", rr: bj, type: A}] }`, 1), baseEnv, "sites.bj.dns[0].zone"},
		{"bad gateway", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", vpn: [{gateway: gw1, connection: to-bj}] }`, 1), baseEnv, "sites.bj.vpn[0].gateway"},
		{"bad strategy", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", vpn: [{gateway: vpn-bp1, connection: to-bj, strategy: yolo}] }`, 1), baseEnv, "sites.bj.vpn[0].strategy: is obsolete"},
		{"bad duration", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", vpn: [{gateway: vpn-bp1, connection: to-bj, min_interval: soon}] }`, 1), baseEnv, `"soon" is not a duration`},
		{"bad notify kind", base + "notify: [{kind: slack, url: 'https://x.example'}]\n", baseEnv, "notify[0].kind"},
		{"bad line name", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom, Unicom] }`, 1), baseEnv, `sites.bj.lines[1]: invalid line name "Unicom"`},
		{"empty line name", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [""] }`, 1), baseEnv, `sites.bj.lines[0]: invalid line name: empty`},
		{"duplicate line", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom, telecom] }`, 1), baseEnv, `sites.bj.lines[1]: line "telecom" listed twice`},
		{"undeclared line_of_site", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom], dns: [{zone: example.com, rr: bj, type: A, line_of_site: unicom}] }`, 1), baseEnv, `sites.bj.dns[0].line_of_site: line "unicom" is not declared in sites.bj.lines (declared: [telecom])`},
		{"line_of_site without lines", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", dns: [{zone: example.com, rr: bj, type: A, line_of_site: unicom}] }`, 1), baseEnv, `sites.bj.dns[0].line_of_site: line "unicom" is not declared in sites.bj.lines (the site declares none)`},
		{"ipv6_suffix with a prefix", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", ipv6_suffix: "2001:db8::1" }`, 1), baseEnv, `sites.bj.ipv6_suffix: "2001:db8::1" is not an interface ID: want a non-zero IPv6 address whose upper 64 bits are zero`},
		{"ipv6_suffix IPv4", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", ipv6_suffix: "0.0.0.1" }`, 1), baseEnv, `sites.bj.ipv6_suffix: "0.0.0.1" is not an interface ID`},
		{"undeclared tunnel line", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom, unicom], vpn: [{gateway: vpn-bp1, connection: to-bj, tunnels: {master: telecom, slave: mobile}}] }`, 1), baseEnv, `sites.bj.vpn[0].tunnels.slave: line "mobile" is not declared in sites.bj.lines (declared: [telecom unicom])`},
		{"tunnels without lines", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", vpn: [{gateway: vpn-bp1, connection: to-bj, tunnels: {master: telecom}}] }`, 1), baseEnv, `sites.bj.vpn[0].tunnels.master: line "telecom" is not declared in sites.bj.lines (the site declares none)`},
		{"tunnels on a DNS record", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom], dns: [{zone: example.com, rr: bj, type: A, tunnels: {master: telecom}}] }`, 1), baseEnv, `field tunnels not found`},
		{"unknown tunnel role", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom], vpn: [{gateway: vpn-bp1, connection: to-bj, tunnels: {backup: telecom}}] }`, 1), baseEnv, `field backup not found`},
		{"ipv6_suffix not an address", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", ipv6_suffix: "router" }`, 1), baseEnv, `sites.bj.ipv6_suffix: "router" is not an interface ID`},
		{"ipv6_suffix zero", strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", ipv6_suffix: "::" }`, 1), baseEnv, `sites.bj.ipv6_suffix: "::" is not an interface ID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), envOf(tt.env), noFiles)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	y := strings.Replace(base, "0123456789abcdef-bj", "tiny-secret", 1)
	_, err := Parse([]byte(y), envOf(baseEnv), noFiles)
	if err == nil || strings.Contains(err.Error(), "tiny-secret") {
		t.Fatalf("error %v must name the key without its value", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add(Example)
	f.Add([]byte("redis: {url: 'memory://'}\nsites: {hz: {key: '${X}'}}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw, envOf(map[string]string{"KEY_HZ": "0123456789abcdef-hz", "PPTER_KEY_HZ": "0123456789abcdef-hz", "PPTER_KEY_BJ": "0123456789abcdef-bj", "PPTER_ADMIN_TOKEN": "0123456789abcdef"}), noFiles)
		if err != nil {
			return
		}
		if len(c.SiteNames) == 0 || c.Redis.URL == "" || c.Ping.StaleAfter <= 0 {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		for _, n := range c.SiteNames {
			if len(c.Sites[n].Key) < 16 {
				t.Fatalf("accepted a short key for %s", n)
			}
		}
	})
}

// TestSharedSecretsRefused proves the config refuses, at start, a secret that serves two
// credentials: two sites with one key, an admin token equal to a site key, a dyndns_key
// equal to a key or token. The error names the keys involved, never the secret.
func TestSharedSecretsRefused(t *testing.T) {
	const shared = "0123456789abcdef-shared"
	tests := []struct {
		name, yaml string
		want       string
	}{
		{"two sites, one key", `
redis: { url: "memory://" }
sites:
  hz: { key: "` + shared + `" }
  bj: { key: "` + shared + `" }
`, "sites.hz.key: the same secret as sites.bj.key"},
		{"admin token is a site key", `
redis: { url: "memory://" }
admin: { token: "` + shared + `" }
sites:
  hz: { key: "` + shared + `" }
  bj: { key: "0123456789abcdef-bj" }
`, "admin.token: the same secret as sites.hz.key"},
		{"dyndns_key is its own site key", `
redis: { url: "memory://" }
sites:
  hz: { key: "` + shared + `", dyndns_key: "` + shared + `" }
`, "sites.hz.dyndns_key: the same secret as sites.hz.key"},
		{"dyndns_key is another site's key", `
redis: { url: "memory://" }
sites:
  hz: { key: "0123456789abcdef-hz", dyndns_key: "` + shared + `" }
  bj: { key: "` + shared + `" }
`, "sites.hz.dyndns_key: the same secret as sites.bj.key"},
		{"dyndns_key is the admin token", `
redis: { url: "memory://" }
admin: { token: "` + shared + `" }
sites:
  hz: { key: "0123456789abcdef-hz", dyndns_key: "` + shared + `" }
`, "admin.token: the same secret as sites.hz.dyndns_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), envOf(nil), noFiles)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), shared) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}
}

// TestBasicAndDynDNSKey covers the site keys of Basic authentication: off unless
// basic: true, an optional dyndns_key with the rules of a key.
func TestBasicAndDynDNSKey(t *testing.T) {
	c, err := Parse([]byte(base), envOf(baseEnv), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sites["hz"].Basic || c.Sites["hz"].DynDNSKey != "" {
		t.Fatalf("hz = %+v, want Basic off and no dyndns_key by default", c.Sites["hz"])
	}
	y := strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", basic: true, dyndns_key: "${DDNS_BJ}" }`, 1)
	c, err = Parse([]byte(y), envOf(map[string]string{"KEY_HZ": "0123456789abcdef-hz", "DDNS_BJ": "0123456789abcdef-ddns"}), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Sites["bj"]; !s.Basic || s.DynDNSKey != "0123456789abcdef-ddns" {
		t.Fatalf("bj = %+v, want basic and its dyndns_key", s)
	}
	short := strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", dyndns_key: "short-ddns" }`, 1)
	if _, err := Parse([]byte(short), envOf(baseEnv), noFiles); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sites.bj.dyndns_key: shorter than 16") || strings.Contains(err.Error(), "short-ddns") {
		t.Fatalf("short dyndns_key: %v", err)
	}
	// A dyndns_key that looks like a number stays a string.
	num := strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", dyndns_key: "${DDNS_BJ}" }`, 1)
	c, err = Parse([]byte(num), envOf(map[string]string{"KEY_HZ": "0123456789abcdef-hz", "DDNS_BJ": "01234567890123456789"}), noFiles)
	if err != nil || c.Sites["bj"].DynDNSKey != "01234567890123456789" {
		t.Fatalf("numeric dyndns_key: %v %+v", err, c)
	}
}

// TestExampleEnablesBasic: make run's README line (curl -u hz:…) needs Basic on hz and bj.
func TestExampleEnablesBasic(t *testing.T) {
	c := parseExample(t)
	for _, n := range []site.Name{"hz", "bj"} {
		if !c.Sites[n].Basic {
			t.Errorf("example site %s has basic off", n)
		}
	}
}

// TestObsoleteStrategyLoads: a config written for the old strategy key still loads, with a
// warning saying the key is ignored.
func TestObsoleteStrategyLoads(t *testing.T) {
	for _, v := range []string{"recreate", "modify"} {
		c, err := Parse([]byte(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou }
sites:
  hz: { key: "0123456789abcdef-hz", vpn: [{gateway: vpn-bp1, connection: to-hz, strategy: `+v+`}] }
`), envOf(map[string]string{"PPTER_STATE_KEY": testStateKey}), nil)
		if err != nil {
			t.Fatalf("strategy %s: %v", v, err)
		}
		if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "sites.hz.vpn[0].strategy is ignored") {
			t.Fatalf("strategy %s: warnings %q", v, c.Warnings)
		}
	}
}

const testStateKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// TestStateKey: VPN targets need a state key (64 hex characters, from PPTER_STATE_KEY or the
// file PPTER_STATE_KEY_FILE names); a malformed one is refused without being echoed; a
// config without VPN targets needs none. redis.single_node defaults to false.
func TestStateKey(t *testing.T) {
	const vpn = `
redis: { url: "redis://127.0.0.1:6379/0" }
aliyun: { region: cn-hangzhou }
sites:
  hz: { key: "0123456789abcdef-hz", vpn: [{gateway: vpn-bp1, connection: to-hz}] }
`
	files := func(name string) ([]byte, error) {
		if name == "/run/secrets/state-key" {
			return []byte(testStateKey + "\n"), nil
		}
		return nil, os.ErrNotExist
	}
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		ok         bool
	}{
		{"vpn without key", vpn, nil, false},
		{"vpn with key", vpn, map[string]string{"PPTER_STATE_KEY": testStateKey}, true},
		{"vpn with key file", vpn, map[string]string{"PPTER_STATE_KEY_FILE": "/run/secrets/state-key"}, true},
		{"missing key file", vpn, map[string]string{"PPTER_STATE_KEY_FILE": "/nope"}, false},
		{"short key", vpn, map[string]string{"PPTER_STATE_KEY": "abcdef0123"}, false},
		{"not hex", vpn, map[string]string{"PPTER_STATE_KEY": strings.Repeat("zz", 32)}, false},
		{"no vpn, no key", strings.Replace(vpn, ", vpn: [{gateway: vpn-bp1, connection: to-hz}]", "", 1), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), envOf(tc.env), files)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if c.Redis.SingleNode {
					t.Error("single_node on by default")
				}
				if tc.env != nil && hex.EncodeToString(c.StateKey) != testStateKey {
					t.Errorf("key = %x", c.StateKey)
				}
				return
			}
			if !errors.Is(err, ErrStateKey) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrStateKey", err)
			}
			if v := tc.env["PPTER_STATE_KEY"]; v != "" && strings.Contains(err.Error(), v) {
				t.Fatalf("error echoes the key: %v", err)
			}
		})
	}
}

// TestEnvironment: the region's default, the cloud credentials and whether this is a
// Function Compute instance come from the environment, read with the file.
func TestEnvironment(t *testing.T) {
	env := map[string]string{"KEY_HZ": "0123456789abcdef-hz", "FC_REGION": "cn-shanghai", "FC_ACCOUNT_ID": "1",
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret", "ALIBABA_CLOUD_SECURITY_TOKEN": "sts"}
	c, err := Parse([]byte(base), envOf(env), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if cr := c.Credentials; c.Aliyun.Region != "cn-shanghai" || !c.InsideFC || cr.AccessKeyID != "id" || cr.AccessKeySecret != "secret" || cr.SecurityToken != "sts" {
		t.Fatalf("got region %q, inside FC %v, credentials %+v", c.Aliyun.Region, c.InsideFC, cr)
	}
	if c, err = Parse([]byte(base), envOf(baseEnv), noFiles); err != nil {
		t.Fatal(err)
	}
	if c.InsideFC || c.Credentials != (cloud.Credentials{}) {
		t.Fatalf("without the variables: inside FC %v, credentials %+v", c.InsideFC, c.Credentials)
	}
}

func TestLines(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, `{ key: "0123456789abcdef-bj" }`, `{ key: "0123456789abcdef-bj", lines: [telecom, unicom], ipv6_suffix: "::1",
    dns: [{zone: example.com, rr: bj, type: A}, {zone: example.com, rr: bj-cu, type: A, line_of_site: unicom}, {zone: example.com, rr: bj-ct, type: A, line_of_site: telecom}],
    vpn: [{gateway: vpn-bp1, connection: to-bj}] }`, 1)), envOf(map[string]string{"KEY_HZ": "0123456789abcdef-hz", "PPTER_STATE_KEY": testStateKey, "FC_REGION": "cn-hangzhou"}), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	bj, hz := c.Sites["bj"], c.Sites["hz"]
	for _, tt := range []struct {
		st     Site
		name   string
		stored site.Line
		ok     bool
	}{
		{bj, "", "", true}, {bj, "telecom", "", true}, {bj, "unicom", "unicom", true}, {bj, "mobile", "", false},
		{hz, "", "", true}, {hz, "telecom", "", false},
	} {
		if l, ok := tt.st.StoredLine(tt.name); l != tt.stored || ok != tt.ok {
			t.Errorf("StoredLine(%q) = %q, %v; want %q, %v", tt.name, l, ok, tt.stored, tt.ok)
		}
	}
	if bj.DefaultLine() != "telecom" || bj.LineName("") != "telecom" || bj.LineName("unicom") != "unicom" || hz.LineName("") != "" || !slices.Equal(bj.OtherLines(), []site.Line{"unicom"}) || hz.OtherLines() != nil {
		t.Errorf("default %q, names %q %q %q, other %v %v", bj.DefaultLine(), bj.LineName(""), bj.LineName("unicom"), hz.LineName(""), bj.OtherLines(), hz.OtherLines())
	}
	names := func(ts cloud.Targets) (out []string) {
		for _, x := range ts.List() {
			out = append(out, x.Name())
		}
		return out
	}
	if got, want := names(bj.Following("")), []string{"bj.example.com/A", "bj-ct.example.com/A", "to-bj"}; !slices.Equal(got, want) {
		t.Errorf("default line's targets = %v, want %v", got, want)
	}
	if got, want := names(bj.Following("unicom")), []string{"bj-cu.example.com/A"}; !slices.Equal(got, want) {
		t.Errorf("unicom's targets = %v, want %v", got, want)
	}
	bj.VPN = append(bj.VPN, cloud.VPNConn{Gateway: "vpn-bp1", Connection: "to-bj2", Tunnels: cloud.TunnelLines{Slave: "unicom"}},
		cloud.VPNConn{Gateway: "vpn-bp1", Connection: "to-bj3", Tunnels: cloud.TunnelLines{Master: "unicom", Slave: "unicom"}})
	if got, want := names(bj.Following("")), []string{"bj.example.com/A", "bj-ct.example.com/A", "to-bj", "to-bj2/master"}; !slices.Equal(got, want) {
		t.Errorf("with tunnels, the default line's targets = %v, want %v", got, want)
	}
	if got, want := names(bj.Following("unicom")), []string{"bj-cu.example.com/A", "to-bj2/slave", "to-bj3"}; !slices.Equal(got, want) {
		t.Errorf("with tunnels, unicom's targets = %v, want %v", got, want)
	}
	var keys []string
	for _, x := range bj.AllTargets() {
		keys = append(keys, x.Key().Name)
	}
	if want := []string{"bj.example.com/A", "bj-cu.example.com/A", "bj-ct.example.com/A", "vpn-bp1/to-bj", "vpn-bp1/to-bj2#master", "vpn-bp1/to-bj2#slave", "vpn-bp1/to-bj3"}; !slices.Equal(keys, want) {
		t.Errorf("state keys = %v, want %v", keys, want)
	}
	for in, want := range map[string]string{"2001:db8:1:2:aaaa:bbbb:cccc:dddd": "2001:db8:1:2::1", "203.0.113.7": "203.0.113.7", "::ffff:203.0.113.7": "::ffff:203.0.113.7"} {
		if got := bj.Recorded(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("Recorded(%s) = %s, want %s", in, got, want)
		}
	}
	if a := netip.MustParseAddr("2001:db8::7"); hz.Recorded(a) != a {
		t.Errorf("a site without ipv6_suffix records %s as %s", a, hz.Recorded(a))
	}
}
