package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

func TestParseAPIDrivers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string { return writeFile(t, dir, name, body) }
	opnKeys := write("apikey.txt", "key=opn-key\nsecret=opn-secret\n")
	opnHalf := write("half.txt", "key=opn-key\n")
	token := write("token", "fgt-token\n")
	empty := write("empty", "\n")
	const uuid = "3d9b0f2e-5d0c-4a8e-9f7c-1b2a3c4d5e6f"
	opnsense := func(extra string) string {
		return "opnsense:\n  url: https://192.168.1.1\n" + extra + "  peers:\n    bj: { connection: " + uuid + " }\n"
	}
	vyos := func(extra string) string {
		return "vyos:\n  url: https://192.0.2.1\n" + extra + "  peers:\n    bj: { ipsec_peer: to-bj }\n"
	}
	forti := func(extra string) string {
		return "fortigate:\n  url: https://192.168.1.99\n" + extra + "  peers:\n    bj: { phase1: to-bj }\n"
	}
	tests := []struct {
		name    string
		driver  string
		yaml    string
		env     []string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{name: "openwrt", driver: "openwrt", yaml: "openwrt:\n  peers:\n    bj: { wireguard_interface: wg0, description: to-bj }\n    gz: { ipsec_remote: gz, family: ipv6 }\n",
			check: func(t *testing.T, c *Config) {
				if p := c.Drivers.OpenWrt.Peers[site.Peer{Site: "gz"}]; p.IPsecRemote != "gz" || p.Family != 6 {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "openwrt peer with nothing to change", driver: "openwrt", yaml: "openwrt:\n  peers:\n    bj: { family: ipv4 }\n", wantErr: "openwrt: peer bj: set either ipsec_remote or wireguard_interface"},
		{name: "openwrt unknown key", driver: "openwrt", yaml: "openwrt:\n  peers:\n    bj: { wireguard_peer: x }\n", wantErr: "field wireguard_peer not found"},
		{name: "opnsense key file", driver: "opnsense", yaml: opnsense("  api_key_file: " + opnKeys + "\n"),
			env: []string{"PPTER_ROUTER_API_KEY=env-key", "PPTER_ROUTER_API_SECRET=env-secret"},
			check: func(t *testing.T, c *Config) {
				if o := c.Drivers.OPNsense; o.Key != "opn-key" || o.Secret != "opn-secret" {
					t.Errorf("got key %q secret %q, want the file's (it beats the environment)", o.Key, o.Secret)
				}
			}},
		{name: "opnsense key from env", driver: "opnsense", yaml: opnsense(""), env: []string{"PPTER_ROUTER_API_KEY=env-key", "PPTER_ROUTER_API_SECRET=env-secret"},
			check: func(t *testing.T, c *Config) {
				if o := c.Drivers.OPNsense; o.Key != "env-key" || o.Secret != "env-secret" {
					t.Errorf("got key %q secret %q", o.Key, o.Secret)
				}
			}},
		{name: "opnsense key file missing", driver: "opnsense", yaml: opnsense("  api_key_file: /nonexistent/apikey.txt\n"), wantErr: "opnsense api_key_file: open /nonexistent/apikey.txt"},
		{name: "opnsense key file without secret", driver: "opnsense", yaml: opnsense("  api_key_file: " + opnHalf + "\n"), wantErr: "want a key=… and a secret=… line"},
		{name: "opnsense key without secret in env", driver: "opnsense", yaml: opnsense(""), env: []string{"PPTER_ROUTER_API_KEY=env-key"}, wantErr: "set both PPTER_ROUTER_API_KEY and PPTER_ROUTER_API_SECRET"},
		{name: "opnsense no credentials", driver: "opnsense", yaml: opnsense(""), wantErr: "opnsense: no API key and secret"},
		{name: "opnsense connection not a uuid", driver: "opnsense", yaml: "opnsense:\n  url: https://r\n  api_key_file: " + opnKeys + "\n  peers:\n    bj: { connection: to-bj }\n", wantErr: "connection must be the connection's UUID"},
		{name: "opnsense bad url", driver: "opnsense", yaml: "opnsense:\n  url: 192.168.1.1\n  api_key_file: " + opnKeys + "\n  peers:\n    bj: { connection: " + uuid + " }\n", wantErr: "opnsense: url must be"},
		{name: "opnsense ca_file missing", driver: "opnsense", yaml: opnsense("  api_key_file: " + opnKeys + "\n  ca_file: /nonexistent/ca.pem\n"), wantErr: "opnsense: ca_file"},
		{name: "vyos key file", driver: "vyos", yaml: vyos("  api_key_file: " + token + "\n  save: true\n"),
			check: func(t *testing.T, c *Config) {
				if v := c.Drivers.VyOS; v.Key != "fgt-token" || !v.Save {
					t.Errorf("got %+v", v)
				}
			}},
		{name: "vyos key from env", driver: "vyos", yaml: vyos(""), env: []string{"PPTER_ROUTER_API_KEY=env-key"},
			check: func(t *testing.T, c *Config) {
				if c.Drivers.VyOS.Key != "env-key" {
					t.Errorf("got key %q", c.Drivers.VyOS.Key)
				}
			}},
		{name: "vyos key file missing", driver: "vyos", yaml: vyos("  api_key_file: /nonexistent/key\n"), wantErr: "vyos api_key_file: open /nonexistent/key"},
		{name: "vyos key file empty", driver: "vyos", yaml: vyos("  api_key_file: " + empty + "\n"), wantErr: "vyos api_key_file " + empty + ": empty"},
		{name: "vyos no key", driver: "vyos", yaml: vyos(""), wantErr: "vyos: no API key"},
		{name: "vyos bad peer", driver: "vyos", yaml: "vyos:\n  url: https://r\n  peers:\n    bj: { wireguard_peer: x }\n", env: []string{"PPTER_ROUTER_API_KEY=k"}, wantErr: "vyos: peer bj: set either ipsec_peer or both"},
		{name: "fortigate token file", driver: "fortigate", yaml: forti("  token_file: " + token + "\n  vdom: root\n"),
			check: func(t *testing.T, c *Config) {
				if f := c.Drivers.FortiGate; f.Token != "fgt-token" || f.VDOM != "root" {
					t.Errorf("got %+v", f)
				}
			}},
		{name: "fortigate token from env", driver: "fortigate", yaml: forti(""), env: []string{"PPTER_ROUTER_TOKEN=env-token"},
			check: func(t *testing.T, c *Config) {
				if c.Drivers.FortiGate.Token != "env-token" {
					t.Errorf("got token %q", c.Drivers.FortiGate.Token)
				}
			}},
		{name: "fortigate token file missing", driver: "fortigate", yaml: forti("  token_file: /nonexistent/token\n"), wantErr: "fortigate token_file: open /nonexistent/token"},
		{name: "fortigate token file empty", driver: "fortigate", yaml: forti("  token_file: " + empty + "\n"), wantErr: ": empty"},
		{name: "fortigate no token", driver: "fortigate", yaml: forti(""), wantErr: "fortigate: no API token"},
		{name: "fortigate bad vdom", driver: "fortigate", yaml: forti("  vdom: a/b\n"), env: []string{"PPTER_ROUTER_TOKEN=t"}, wantErr: `fortigate: bad vdom "a/b"`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := write("api"+string(rune('a'+i))+".yaml", tc.yaml)
			args := []string{"--url", "https://fn.example.com", "--site", "hz", "--config", file, "--driver", tc.driver}
			c, err := Parse(args, append([]string{"PPTER_KEY=k"}, tc.env...))
			if err == nil {
				_, err = c.NewDriver(nil, nil)
			}
			if tc.wantErr != "" {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want usage error mentioning %q", err, tc.wantErr)
				}
				for _, secret := range []string{"opn-secret", "env-secret", "fgt-token", "env-token"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q contains a secret", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestAPIDriverSecretsLeaveHookEnvironment(t *testing.T) {
	env := withoutSecrets([]string{"PATH=/bin", "PPTER_ROUTER_API_KEY=a", "PPTER_ROUTER_API_SECRET=b", "PPTER_ROUTER_TOKEN=c", "PPTER_ROUTER_PASSWORD=d"})
	if !slices.Equal(env, []string{"PATH=/bin"}) {
		t.Errorf("got %v, want only PATH", env)
	}
}

func TestDriverNames(t *testing.T) {
	var d DriverName
	for _, name := range []string{"openwrt", "opnsense", "vyos", "fortigate"} {
		if err := d.Set(name); err != nil || string(d) != name {
			t.Errorf("Set(%q): %v", name, err)
		}
	}
	err := d.Set("pfsense")
	if err == nil || !strings.Contains(err.Error(), "openwrt, opnsense, vyos, fortigate") {
		t.Errorf("got %v, want the valid names listed", err)
	}
	if !strings.Contains(Usage(), "openwrt, opnsense, vyos or fortigate") {
		t.Error("--help does not list the new drivers")
	}
}
