package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/shared/site"
)

// writeFile writes body to dir/name, mode 0600 (the pinger refuses wider secret files).
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string { return writeFile(t, dir, name, body) }
	pwFile := write("pw", "router-pw\n")
	openPwFile := write("pw-open", "router-pw\n")
	if err := os.Chmod(openPwFile, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		yaml    string
		args    []string
		env     []string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "exec section, flag overrides command",
			yaml: "exec: { command: 'from-file', self: true, timeout: 90s }\n",
			args: []string{"--exec", "from-flag"},
			check: func(t *testing.T, c *Config) {
				if c.Exec != "from-flag" || !c.Drivers.Exec.Self || c.Drivers.Exec.Timeout != 90*time.Second {
					t.Errorf("got exec %q self %v timeout %v", c.Exec, c.Drivers.Exec.Self, c.Drivers.Exec.Timeout)
				}
			},
		},
		{
			name: "exec command from file",
			yaml: "exec: { command: 'from-file' }\n",
			check: func(t *testing.T, c *Config) {
				if c.Exec != "from-file" {
					t.Errorf("got exec %q, want from-file", c.Exec)
				}
			},
		},
		{
			name: "routeros with password_file",
			yaml: "routeros:\n  url: https://192.168.88.1\n  username: ppter\n  password_file: " + pwFile + "\n  insecure_skip_verify: true\n  peers:\n    bj: { ipsec_peer: to-bj }\n    sh: { wireguard_peer: sh, family: ipv6 }\n",
			args: []string{"--driver", "routeros"},
			check: func(t *testing.T, c *Config) {
				r := c.Drivers.RouterOS
				if r.Password != "router-pw" || !r.TLS.InsecureSkipVerify || r.Peers[site.Peer{Site: "bj"}].IPsecPeer != "to-bj" || r.Peers[site.Peer{Site: "sh"}].Family != 6 {
					t.Errorf("got %+v", r)
				}
				if _, err := c.NewDriver(nil, nil); err != nil {
					t.Errorf("NewDriver: %v", err)
				}
			},
		},
		{
			name: "router password from env",
			yaml: "http:\n  base_url: http://192.168.1.1\n  update: [ { method: POST, path: /x } ]\n",
			args: []string{"--driver", "http"},
			env:  []string{"PPTER_ROUTER_PASSWORD=env-pw"},
			check: func(t *testing.T, c *Config) {
				if c.Drivers.HTTP.Password != "env-pw" {
					t.Errorf("got password %q, want env-pw", c.Drivers.HTTP.Password)
				}
			},
		},
		{
			name: "exec peers allow-list",
			yaml: "exec: { command: 'x', peers: [ bj, sh ] }\n",
			check: func(t *testing.T, c *Config) {
				d, err := c.NewDriver(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if d.Wants(router.Change{Peer: "gz", Family: 4}) || !d.Wants(router.Change{Peer: "sh", Family: 4}) {
					t.Errorf("got peers %q: gz wanted or sh not", c.Drivers.Exec.Peers)
				}
			},
		},
		{name: "exec peers bad name", yaml: "exec: { command: 'x', peers: [ BJ ] }\n", wantErr: `invalid site name "BJ"`},
		{name: "peer map bad name", yaml: "vyos:\n  peers:\n    B_J: { ipsec_peer: a }\n", wantErr: `invalid site name "B_J"`},
		{name: "exec peers not a list", yaml: "exec: { command: 'x', peers: bj }\n", wantErr: "cannot unmarshal"},
		{
			name: "tool timeouts",
			yaml: "wireguard: { timeout: 5s }\nstrongswan: { timeout: 7s, initiate_timeout: 20s }\n",
			check: func(t *testing.T, c *Config) {
				if c.Drivers.WireGuard.Timeout != 5*time.Second || c.Drivers.StrongSwan.Timeout != 7*time.Second || c.Drivers.StrongSwan.InitiateTimeout != 20*time.Second {
					t.Errorf("got wireguard %v, strongswan %v/%v", c.Drivers.WireGuard.Timeout, c.Drivers.StrongSwan.Timeout, c.Drivers.StrongSwan.InitiateTimeout)
				}
			},
		},
		{name: "bad tool timeout", yaml: "wireguard: { timeout: forever }\n", wantErr: "forever"},
		{name: "bad swanctl timeout", yaml: "strongswan: { timeout: 5 minutes }\n", wantErr: "5 minutes"},
		{name: "unknown key", yaml: "routeros:\n  url: https://r\n  pasword: x\n", wantErr: "field pasword not found"},
		{name: "unknown section", yaml: "cisco: {}\n", wantErr: "field cisco not found"},
		{name: "bad family", yaml: "wireguard:\n  peers:\n    bj: { family: ipv5 }\n", wantErr: "ipv5"},
		{name: "bad duration", yaml: "exec: { timeout: soon }\n", wantErr: "soon"},
		{name: "password file readable by others", yaml: "routeros: { password_file: " + openPwFile + " }\n", args: []string{"--driver", "routeros"}, wantErr: "routeros password_file " + openPwFile + ": permissions are too open: mode 0644"},
		{name: "missing password file", yaml: "routeros: { password_file: /nonexistent/pw }\n", args: []string{"--driver", "routeros"}, wantErr: "password_file"},
		{name: "driver config invalid", yaml: "strongswan:\n  peers:\n    bj: { connection: '../etc' }\n", args: []string{"--driver", "strongswan"}, wantErr: "bad connection name"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := write("c"+string(rune('a'+i))+".yaml", tc.yaml)
			args := append([]string{"--url", "https://fn.example.com", "--site", "hz", "--config", file}, tc.args...)
			c, err := Parse(args, append([]string{"PPTER_KEY=k"}, tc.env...))
			if err == nil && tc.wantErr != "" {
				_, err = c.NewDriver(nil, nil)
			}
			if tc.wantErr != "" {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want usage error mentioning %q", err, tc.wantErr)
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

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]string{"--url", "https://fn.example.com/", "--site", "hz"}, []string{"PPTER_KEY= k \n"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Driver != DriverExec || c.IPFamily != Family4 || c.LogFormat != LogText || c.Watch != 0 || c.DryRun {
		t.Errorf("got %+v", c)
	}
	if string(c.Secret) != "k" {
		t.Errorf("secret not trimmed")
	}
	if c.LockPath != c.StatePath+".lock" {
		t.Errorf("lock %q, state %q", c.LockPath, c.StatePath)
	}
}

func TestFamilies(t *testing.T) {
	tests := []struct {
		f    IPFamily
		want string
	}{{Family4, "[ipv4]"}, {Family6, "[ipv6]"}, {FamilyBoth, "[ipv4 ipv6]"}}
	for _, tc := range tests {
		t.Run(string(tc.f), func(t *testing.T) {
			if got := fmt.Sprint(tc.f.Families()); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestFunctionURLScheme: plain http:// only to loopback unless --insecure-http (issue 11, point 10).
func TestFunctionURLScheme(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		args    []string
		env     []string
		wantErr string // empty: accepted
	}{
		{name: "https", url: "https://fn.example.com"},
		{name: "http to 127.0.0.1", url: "http://127.0.0.1:9000"},
		{name: "http to another loopback address", url: "http://127.0.0.2:9000"},
		{name: "http to ::1", url: "http://[::1]:9000"},
		{name: "http to localhost", url: "http://localhost:9000"},
		{name: "http to a remote host", url: "http://fn.example.com", wantErr: "--url fn.example.com is plain http:// to a host other than loopback"},
		{name: "http to a LAN address", url: "http://192.168.1.10:9000", wantErr: "use https:// (or --insecure-http, PPTER_INSECURE_HTTP=true, in a lab)"},
		{name: "http to a name ending in localhost", url: "http://evil-localhost.example.com", wantErr: "plain http://"},
		{name: "insecure-http flag", url: "http://203.0.113.10:9000", args: []string{"--insecure-http"}},
		{name: "insecure-http env", url: "http://203.0.113.10:9000", env: []string{"PPTER_INSECURE_HTTP=true"}},
		{name: "flag false beats env true", url: "http://203.0.113.10:9000", args: []string{"--insecure-http=false"}, env: []string{"PPTER_INSECURE_HTTP=true"}, wantErr: "plain http://"},
		{name: "bad insecure-http env", url: "https://fn.example.com", env: []string{"PPTER_INSECURE_HTTP=maybe"}, wantErr: "PPTER_INSECURE_HTTP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--url", tc.url, "--site", "hz"}, tc.args...)
			c, err := Parse(args, append([]string{"PPTER_KEY=k"}, tc.env...))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				if c.URL.String() != tc.url {
					t.Errorf("got URL %s, want %s", c.URL, tc.url)
				}
				return
			}
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want usage error mentioning %q", err, tc.wantErr)
			}
		})
	}
}
