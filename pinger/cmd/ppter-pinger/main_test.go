package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppter/ppter/pinger/internal/fakefn"
	"github.com/ppter/ppter/pinger/internal/lock"
	"github.com/ppter/ppter/shared/site"
)

const (
	secretHZ = "s3cret-hz-0123456789"
	secretBJ = "s3cret-bj-0123456789"
	hook     = `echo "$PPTER_PEER $PPTER_PEER_OLD_IP>$PPTER_PEER_IP" >> "$HOOK_OUT"`
)

type env struct {
	t     *testing.T
	fn    *fakefn.Server
	dir   string
	state string
	hook  string
	base  []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fn := fakefn.New(t, map[site.Name]string{"hz": secretHZ, "bj": secretBJ}, nil)
	fn.SetAddr("bj", "198.51.100.9")
	dir := t.TempDir()
	e := &env{t: t, fn: fn, dir: dir, state: filepath.Join(dir, "state.json"), hook: filepath.Join(dir, "hook.log")}
	e.base = []string{"PATH=/usr/bin:/bin", "HOOK_OUT=" + e.hook, "PPTER_KEY=" + secretHZ}
	return e
}

// run runs the pinger with the standard flags plus extra and returns its exit code.
func (e *env) run(extra []string, environ ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	args := append([]string{"--url", e.fn.URL, "--site", "hz", "--state", e.state, "--exec", hook}, extra...)
	var out, errb bytes.Buffer
	err := run(context.Background(), args, append(append([]string(nil), e.base...), environ...), &out, &errb)
	return exitCode(err), out.String(), errb.String() + errString(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (e *env) hookLines() []string {
	b, err := os.ReadFile(e.hook)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (e *env) stateBytes() string {
	b, err := os.ReadFile(e.state)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	return string(b)
}

// stateFile returns the state file's FileInfo: os.SameFile on two of them tells whether the
// file was rewritten in between (a rewrite renames a new file over it, with a new inode),
// which neither its contents nor its modification time can.
func (e *env) stateFile() os.FileInfo {
	fi, err := os.Stat(e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	return fi
}

func TestFirstRunAppliesThenIdle(t *testing.T) {
	e := newEnv(t)
	if code, _, stderr := e.run(nil); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	if got, want := e.hookLines(), []string{"bj >198.51.100.9"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("first run hook: got %q, want %q", got, want)
	}
	before := e.stateFile()
	if code, _, stderr := e.run(nil); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if got := len(e.hookLines()); got != 1 {
		t.Errorf("second identical run: hook ran %d times in total, want 1", got)
	}
	if !os.SameFile(before, e.stateFile()) {
		t.Error("second identical run rewrote the state file")
	}
	if e.fn.Pings() != 2 {
		t.Errorf("got %d pings, want 2", e.fn.Pings())
	}
}

func TestFailurePaths(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(e *env) (args, environ []string)
		fix    func(e *env)
		want   int
	}{
		{
			name: "function unreachable",
			break_: func(e *env) ([]string, []string) {
				return []string{"--url", "http://127.0.0.1:1"}, nil
			},
			want: 1,
		},
		{
			name: "401 wrong secret",
			break_: func(e *env) ([]string, []string) {
				return nil, []string{"PPTER_KEY=not-the-secret-0123"}
			},
			want: 3,
		},
		{name: "409 replayed", break_: failWith(409, "replayed_nonce"), fix: unfail, want: 3},
		{name: "429 too many failures", break_: failWith(429, "too_many_failures"), fix: unfail, want: 3},
		{name: "500", break_: failWith(500, "internal"), fix: unfail, want: 1},
		{name: "503", break_: failWith(503, "store_unavailable"), fix: unfail, want: 1},
		{
			name: "driver failing",
			break_: func(e *env) ([]string, []string) {
				return []string{"--exec", "exit 7"}, nil
			},
			want: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if code, _, stderr := e.run(nil); code != 0 {
				t.Fatalf("setup run: exit %d: %s", code, stderr)
			}
			before := e.stateFile()
			e.fn.SetAddr("bj", "198.51.100.10")
			args, environ := tc.break_(e)
			code, _, stderr := e.run(args, environ...)
			if code != tc.want {
				t.Fatalf("got exit %d, want %d (%s)", code, tc.want, stderr)
			}
			if strings.Contains(stderr, secretHZ) {
				t.Errorf("output contains the secret: %s", stderr)
			}
			if !os.SameFile(before, e.stateFile()) {
				t.Error("state file changed by a failed cycle")
			}
			if got := len(e.hookLines()); got != 1 {
				t.Errorf("hook ran %d times in total, want 1 (only the setup run)", got)
			}
			if tc.fix != nil {
				tc.fix(e)
			}
			if code, _, stderr := e.run(nil); code != 0 {
				t.Fatalf("retry: exit %d: %s", code, stderr)
			}
			lines := e.hookLines()
			if got := lines[len(lines)-1]; got != "bj 198.51.100.9>198.51.100.10" {
				t.Errorf("retry hook line %q, want the change from .9 to .10", got)
			}
		})
	}
}

func failWith(status int, code string) func(e *env) ([]string, []string) {
	return func(e *env) ([]string, []string) {
		e.fn.FailWith(status, code)
		return nil, nil
	}
}

func unfail(e *env) { e.fn.FailWith(0, "") }

func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	code, stdout, stderr := e.run([]string{"--dry-run"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "would apply peer bj ipv4 none -> 198.51.100.9") {
		t.Errorf("dry run printed %q", stdout)
	}
	if e.hookLines() != nil {
		t.Errorf("dry run ran the hook: %q", e.hookLines())
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 0 {
		t.Errorf("dry run left %d files (state or lock)", len(entries))
	}
}

func TestLockPreventsOverlappingRuns(t *testing.T) {
	e := newEnv(t)
	l, err := lock.Acquire(e.state + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := e.run(nil)
	if code != 1 || !strings.Contains(stderr, "holds the lock") {
		t.Errorf("got exit %d (%s), want 1 and a lock message", code, stderr)
	}
	if e.hookLines() != nil || e.fn.Pings() != 0 {
		t.Error("a locked-out run pinged or ran the hook")
	}
	l.Release()
	if code, _, stderr := e.run(nil); code != 0 {
		t.Fatalf("after release: exit %d: %s", code, stderr)
	}
}

func TestFlagsAndEnv(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(secretHZ+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badKey := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(badKey, []byte("wrong-secret-0123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string // replaces the standard flags when noStd
		noStd    bool
		environ  []string
		want     int
		wantText string
	}{
		{name: "help lists exit codes", args: []string{"--help"}, noStd: true, want: 0, wantText: "Exit codes:"},
		{name: "help shows env vars", args: []string{"-h"}, noStd: true, want: 0, wantText: "(env PPTER_PINGER_CONFIG)"},
		{name: "version", args: []string{"--version"}, noStd: true, want: 0, wantText: "ppter-pinger dev"},
		{name: "url and site from env", noStd: true, args: []string{"--exec", hook}, environ: []string{"PPTER_URL=@URL", "PPTER_SITE=hz", "PPTER_STATE=@STATE"}, want: 0},
		{name: "flag beats env", args: []string{"--site", "hz"}, environ: []string{"PPTER_SITE=bj"}, want: 0},
		{name: "env site used when no flag", noStd: true, args: []string{"--url", "@URL", "--state", "@STATE", "--exec", hook}, environ: []string{"PPTER_SITE=bj"}, want: 3},
		{name: "key file flag beats PPTER_KEY", args: []string{"--key-file", "@KEY"}, environ: []string{"PPTER_KEY=wrong-secret-0123456"}, want: 0},
		{name: "PPTER_KEY beats PPTER_KEY_FILE", environ: []string{"PPTER_KEY_FILE=@BADKEY"}, want: 0},
		{name: "missing url", noStd: true, args: []string{"--site", "hz"}, want: 2, wantText: "--url (PPTER_URL) is required"},
		{name: "bad driver flag", args: []string{"--driver", "cisco"}, want: 2, wantText: "valid: exec, http, routeros, strongswan, wireguard"},
		{name: "bad driver env", environ: []string{"PPTER_DRIVER=cisco"}, want: 2, wantText: "PPTER_DRIVER"},
		{name: "bad ip family env", environ: []string{"PPTER_IP_FAMILY=5"}, want: 2, wantText: "valid: 4, 6, both"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, want: 2, wantText: "valid: text, json"},
		{name: "bad watch env", environ: []string{"PPTER_WATCH=often"}, want: 2, wantText: "PPTER_WATCH"},
		{name: "watch too short", args: []string{"--watch", "1s"}, want: 2, wantText: "at least 5s"},
		{name: "bad dry-run env", environ: []string{"PPTER_DRY_RUN=maybe"}, want: 2, wantText: "PPTER_DRY_RUN"},
		{name: "bad site", args: []string{"--site", "HZ"}, want: 2, wantText: "invalid site name"},
		{name: "url with credentials", args: []string{"--url", "https://hz:pw@example.com"}, want: 2, wantText: "must not contain credentials"},
		{name: "no secret", noStd: true, args: []string{"--url", "https://example.com", "--site", "hz"}, environ: []string{"PPTER_KEY="}, want: 2, wantText: "no secret"},
		{name: "missing key file", args: []string{"--key-file", "/nonexistent/key"}, want: 2, wantText: "--key-file"},
		{name: "no secret flag exists", args: []string{"--key", "x"}, want: 2, wantText: "unknown flag: --key"},
		{name: "stray argument", args: []string{"extra"}, want: 2, wantText: "unexpected argument"},
		{name: "exec driver without command", noStd: true, args: []string{"--url", "@URL", "--site", "hz", "--state", "@STATE"}, want: 2, wantText: "no command"},
		{name: "ip family 6 cannot reach an ipv4-only function", args: []string{"--ip-family", "6"}, want: 1, wantText: "function unreachable"},
		{name: "plain http to a remote function", args: []string{"--url", "http://fn.example.com"}, want: 2, wantText: "--url fn.example.com is plain http:// to a host other than loopback: anyone on the path could forge the function's answers; use https://"},
		{name: "bad insecure-http env", environ: []string{"PPTER_INSECURE_HTTP=maybe"}, want: 2, wantText: "PPTER_INSECURE_HTTP"},
		{name: "help shows insecure-http", args: []string{"--help"}, noStd: true, want: 0, wantText: "(env PPTER_INSECURE_HTTP)"},
		{name: "max-peers zero", args: []string{"--max-peers", "0"}, want: 2, wantText: "--max-peers must be at least 1"},
		{name: "bad max-peers env", environ: []string{"PPTER_MAX_PEERS=many"}, want: 2, wantText: "PPTER_MAX_PEERS"},
		{name: "bad allow-private-peers env", environ: []string{"PPTER_ALLOW_PRIVATE_PEERS=maybe"}, want: 2, wantText: "PPTER_ALLOW_PRIVATE_PEERS"},
		{name: "help shows allow-private-peers", args: []string{"--help"}, noStd: true, want: 0, wantText: "(env PPTER_ALLOW_PRIVATE_PEERS)"},
		{name: "help shows max-peers", args: []string{"--help"}, noStd: true, want: 0, wantText: "(env PPTER_MAX_PEERS)"},
		{name: "cycle-timeout too short", args: []string{"--cycle-timeout", "1s"}, want: 2, wantText: "--cycle-timeout must be at least 10s"},
		{name: "bad cycle-timeout env", environ: []string{"PPTER_CYCLE_TIMEOUT=soon"}, want: 2, wantText: "PPTER_CYCLE_TIMEOUT"},
		{name: "cycle-timeout from env", environ: []string{"PPTER_CYCLE_TIMEOUT=1m"}, want: 0},
		{name: "help shows cycle-timeout", args: []string{"--help"}, noStd: true, want: 0, wantText: "(env PPTER_CYCLE_TIMEOUT)"},
		{name: "json logs", args: []string{"--log-format", "json"}, want: 0, wantText: `"msg":"applied"`},
		{name: "help shows expect-own-address", args: []string{"--help"}, noStd: true, want: 0, wantText: "(env PPTER_EXPECT_OWN_ADDRESS)"},
		{name: "help says what the config file holds", args: []string{"--help"}, noStd: true, want: 0,
			wantText: "YAML file with driver settings, expect_own_address and the line keys (line, bind_address and interface, or lines: for several)"},
		{name: "help gives the exit code of lines failing differently", args: []string{"--help"}, noStd: true, want: 0,
			wantText: "the code is the gravest: 3 if any line was rejected, else 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			subst := func(s string) string {
				r := strings.NewReplacer("@URL", e.fn.URL, "@STATE", e.state, "@KEY", keyFile, "@BADKEY", badKey)
				return r.Replace(s)
			}
			var args []string
			if !tc.noStd {
				args = []string{"--url", e.fn.URL, "--site", "hz", "--state", e.state, "--exec", hook}
			}
			for _, a := range tc.args {
				args = append(args, subst(a))
			}
			environ := append([]string(nil), e.base...)
			for _, v := range tc.environ {
				environ = append(environ, subst(v))
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), args, environ, &out, &errb)
			if got := exitCode(err); got != tc.want {
				t.Fatalf("got exit %d, want %d (err %v, stderr %s)", got, tc.want, err, errb.String())
			}
			all := out.String() + errb.String() + errString(err)
			if !strings.Contains(all, tc.wantText) {
				t.Errorf("output %q does not mention %q", all, tc.wantText)
			}
			if strings.Contains(all, secretHZ) {
				t.Errorf("output contains the secret")
			}
		})
	}
}

func TestWatchStopsCleanly(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if SIGTERM arrived
	args := []string{"--url", e.fn.URL, "--site", "hz", "--state", e.state, "--exec", hook, "--watch", "1m"}
	var out, errb bytes.Buffer
	if err := run(ctx, args, e.base, &out, &errb); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func TestHookDoesNotSeeSecrets(t *testing.T) {
	e := newEnv(t)
	check := `echo "${PPTER_KEY-unset} ${PPTER_ROUTER_PASSWORD-unset}" >> "$HOOK_OUT"`
	code, _, stderr := e.run([]string{"--exec", check}, "PPTER_ROUTER_PASSWORD=router-pw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := strings.Join(e.hookLines(), ","); got != "unset unset" {
		t.Errorf("hook saw %q, want the secrets unset", got)
	}
}

// TestRedirectIsNotFollowed: a function URL that redirects exits 2 and the target is never
// pinged (issue 11, point 10).
func TestRedirectIsNotFollowed(t *testing.T) {
	e := newEnv(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.fn.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	code, _, stderr := e.run([]string{"--url", redirector.URL})
	if code != 2 || !strings.Contains(stderr, "function answered a redirect, which the pinger never follows: HTTP 307 to "+e.fn.URL) {
		t.Errorf("got exit %d (%s), want 2 and the redirect message", code, stderr)
	}
	if e.fn.Pings() != 0 || e.hookLines() != nil {
		t.Errorf("the redirect was followed: %d pings, hook %q", e.fn.Pings(), e.hookLines())
	}
}

// TestPrivatePeers: a private peer address never reaches the hook unless
// --allow-private-peers (or its env var) says so; the run still exits 0 and says why
// (issue 11, point 11).
func TestPrivatePeers(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		environ  []string
		wantHook bool
	}{
		{name: "refused by default"},
		{name: "allowed by flag", args: []string{"--allow-private-peers"}, wantHook: true},
		{name: "allowed by env", environ: []string{"PPTER_ALLOW_PRIVATE_PEERS=true"}, wantHook: true},
		{name: "flag false beats env", args: []string{"--allow-private-peers=false"}, environ: []string{"PPTER_ALLOW_PRIVATE_PEERS=true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fn.SetAddr("bj", "10.2.0.1")
			code, _, stderr := e.run(tc.args, tc.environ...)
			if code != 0 {
				t.Fatalf("got exit %d, want 0 (%s)", code, stderr)
			}
			if got := e.hookLines() != nil; got != tc.wantHook {
				t.Fatalf("hook ran: %v, want %v (%s)", got, tc.wantHook, stderr)
			}
			if !tc.wantHook && !strings.Contains(stderr, "refused peer address 10.2.0.1: private address (allowed only with --allow-private-peers)") {
				t.Errorf("stderr %q does not say why bj was skipped", stderr)
			}
		})
	}
}

// TestCorruptStateFileStillPings: after a power cut left an empty state file, the pinger
// still pings, applies from an empty state and exits 0, saying what it did (issue 11,
// point 13).
func TestCorruptStateFileStillPings(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := e.run(nil)
	if code != 0 {
		t.Fatalf("got exit %d, want 0 (%s)", code, stderr)
	}
	if e.fn.Pings() != 1 {
		t.Errorf("got %d pings, want 1", e.fn.Pings())
	}
	if got := strings.Join(e.hookLines(), ","); got != "bj >198.51.100.9" {
		t.Errorf("hook saw %q, want bj applied from an empty state", got)
	}
	if !strings.Contains(stderr, "level=ERROR") || !strings.Contains(stderr, "state file unreadable; moved aside, continuing from an empty state") {
		t.Errorf("stderr %q does not report the corrupt state file", stderr)
	}
	aside, _ := filepath.Glob(e.state + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("got moved-aside files %q, want one", aside)
	}
	if !strings.Contains(e.stateBytes(), `"198.51.100.9"`) {
		t.Errorf("new state %q does not hold bj", e.stateBytes())
	}
}

// TestKeyFilePermissions: a key file group or others may read is refused with exit 2 and
// a message saying how to fix it, whether --key-file or PPTER_KEY_FILE names it (issue 11,
// point 14).
func TestKeyFilePermissions(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		viaEnv  bool
		want    int
		wantMsg string
	}{
		{name: "0600", mode: 0o600, want: 0},
		{name: "0400", mode: 0o400, want: 0},
		{name: "0640 group-readable", mode: 0o640, want: 2, wantMsg: "permissions are too open: mode 0640 gives group or others access, the secret must be readable by its owner only: run chmod 600 "},
		{name: "0604 world-readable", mode: 0o604, want: 2, wantMsg: "mode 0604"},
		{name: "0644 via PPTER_KEY_FILE", mode: 0o644, viaEnv: true, want: 2, wantMsg: "mode 0644"},
		{name: "0620 group-writable", mode: 0o620, want: 2, wantMsg: "mode 0620"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.base = []string{"PATH=/usr/bin:/bin", "HOOK_OUT=" + e.hook} // no PPTER_KEY
			keyFile := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(keyFile, []byte(secretHZ+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(keyFile, tc.mode); err != nil {
				t.Fatal(err)
			}
			var args, environ []string
			if tc.viaEnv {
				environ = []string{"PPTER_KEY_FILE=" + keyFile}
			} else {
				args = []string{"--key-file", keyFile}
			}
			code, _, stderr := e.run(args, environ...)
			if code != tc.want {
				t.Fatalf("got exit %d, want %d (%s)", code, tc.want, stderr)
			}
			if tc.want == 0 {
				return
			}
			if want := "--key-file " + keyFile + ": "; !strings.Contains(stderr, want) || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("got %q, want it to name the file and say %q", stderr, tc.wantMsg)
			}
			if e.fn.Pings() != 0 {
				t.Errorf("pinged with a refused key file")
			}
		})
	}
}

// fakeHost makes the pinger's host have addrs for --expect-own-address, until the test ends.
func fakeHost(t *testing.T, addrs ...string) {
	t.Helper()
	list := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		list[i] = netip.MustParseAddr(a)
	}
	saved := hostAddrs
	hostAddrs = func() ([]netip.Addr, error) { return list, nil }
	t.Cleanup(func() { hostAddrs = saved })
}

// The log lines of --expect-own-address.
const (
	proxyWarning = `level=WARN msg="the function saw this office at an address that is not this host's: a transparent proxy on the router most likely sent the ping through a proxy server, and the VPN would be pointed at it; exempt the function's domain from the proxy" ip=192.0.2.77 family=ipv4 host=203.0.113.2 help=pinger/README.md#transparent-proxies-on-the-router`
	natWarning   = `level=WARN msg="this host has no public ipv4 address: the line is behind carrier NAT or another router, so the address the function saw is not this host's and inbound VPN connections will not reach it" ip=192.0.2.77 family=ipv4 help=pinger/README.md#transparent-proxies-on-the-router`
)

// TestExpectOwnAddress: on the router, a ping whose address is not one of the host's is
// reported once, as a likely proxy when the host has a public address of that family and as
// carrier NAT when it has none; the cycle goes on as before either way (issue 14, part 3).
func TestExpectOwnAddress(t *testing.T) {
	router := []string{"127.0.0.1", "192.168.1.1", "203.0.113.2", "fe80::1"} // WAN 203.0.113.2
	cgnat := []string{"127.0.0.1", "192.168.1.1", "100.64.7.9", "2001:db8:5::1"}
	tests := []struct {
		name    string
		host    []string
		source  string // the address the function sees
		args    []string
		environ []string
		yaml    string
		want    string // the one warning, or none
	}{
		{name: "own address", host: router, source: "203.0.113.2", args: []string{"--expect-own-address"}},
		{name: "proxy address", host: router, source: "192.0.2.77", args: []string{"--expect-own-address"}, want: proxyWarning},
		{name: "behind carrier NAT", host: cgnat, source: "192.0.2.77", args: []string{"--expect-own-address"}, want: natWarning},
		{name: "off by default", host: router, source: "192.0.2.77"},
		{name: "from env", host: router, source: "192.0.2.77", environ: []string{"PPTER_EXPECT_OWN_ADDRESS=true"}, want: proxyWarning},
		{name: "flag false beats env", host: router, source: "192.0.2.77", args: []string{"--expect-own-address=false"}, environ: []string{"PPTER_EXPECT_OWN_ADDRESS=true"}},
		{name: "from config file", host: router, source: "192.0.2.77", yaml: "expect_own_address: true\n", want: proxyWarning},
		{name: "env false beats config file", host: router, source: "192.0.2.77", yaml: "expect_own_address: true\n", environ: []string{"PPTER_EXPECT_OWN_ADDRESS=false"}},
		{name: "config file false", host: router, source: "192.0.2.77", yaml: "expect_own_address: false\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			fakeHost(t, tc.host...)
			e.fn.SetSource("hz", tc.source)
			args := tc.args
			if tc.yaml != "" {
				args = append(args, "--config", writeConfig(t, tc.yaml))
			}
			code, _, stderr := e.run(args, tc.environ...)
			if code != 0 {
				t.Fatalf("got exit %d, want 0 (%s)", code, stderr)
			}
			if got := strings.Join(e.hookLines(), ","); got != "bj >198.51.100.9" {
				t.Errorf("hook saw %q, want bj applied as without the flag", got)
			}
			var warnings []string
			for _, line := range strings.Split(stderr, "\n") {
				if strings.Contains(line, "level=WARN") {
					_, line, _ = strings.Cut(line, " ") // the time
					warnings = append(warnings, line)
				}
			}
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
				t.Errorf("got warnings\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestExpectOwnAddressBadValues: a bad value exits 2 and names where it came from, as for
// the other boolean flags.
func TestExpectOwnAddressBadValues(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		environ  []string
		yaml     string
		wantText string
	}{
		{name: "flag", args: []string{"--expect-own-address=maybe"}, wantText: `invalid argument "maybe" for "--expect-own-address" flag`},
		{name: "env", environ: []string{"PPTER_EXPECT_OWN_ADDRESS=maybe"}, wantText: "PPTER_EXPECT_OWN_ADDRESS"},
		{name: "config file", yaml: "expect_own_address: maybe\n", wantText: "cannot unmarshal !!str `maybe` into bool"},
		{name: "config file, misspelt key", yaml: "expect_own_addr: true\n", wantText: "field expect_own_addr not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			args := tc.args
			if tc.yaml != "" {
				args = append(args, "--config", writeConfig(t, tc.yaml))
			}
			code, _, stderr := e.run(args, tc.environ...)
			if code != 2 || !strings.Contains(stderr, tc.wantText) {
				t.Errorf("got exit %d (%s), want 2 and %q", code, stderr, tc.wantText)
			}
			if e.fn.Pings() != 0 {
				t.Error("pinged with a bad configuration")
			}
		})
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pinger.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
