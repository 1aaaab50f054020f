package router

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// errExit stands for a tool exiting non-zero.
var errExit = errors.New("exit status 1")

// fakeWg models `wg` on hosts with interfaces and peers: it keeps each peer's endpoint,
// answers `wg show IFACE endpoints` as the real tool does and accepts only
// `wg set IFACE peer KEY endpoint HOST:PORT` for a peer that exists.
type fakeWg struct {
	t     *testing.T
	ifs   map[string]map[string]string // iface → public key → endpoint ("(none)" when unset)
	calls []string
	fail  bool
}

// maxToolWait is the furthest deadline the fakes accept on a tool call: a real tool
// may hang, so every call must come with a bound.
const maxToolWait = time.Minute

// checkDeadline fails the test for a tool call that could run forever.
func checkDeadline(t *testing.T, ctx context.Context, call string) error {
	t.Helper()
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > maxToolWait {
		t.Errorf("%q runs without a deadline (or one further than %s): a hung tool would hold the cycle", call, maxToolWait)
		return errExit
	}
	return nil
}

func (f *fakeWg) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	call := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, call)
	if err := checkDeadline(f.t, ctx, call); err != nil {
		return nil, err
	}
	if name != "wg" {
		f.t.Errorf("fakeWg: unexpected program %q", name)
		return nil, errExit
	}
	if f.fail {
		return nil, fmt.Errorf("%w: Unable to modify interface: Operation not permitted", errExit)
	}
	switch {
	case len(args) == 3 && args[0] == "show" && args[2] == "endpoints":
		peers, ok := f.ifs[args[1]]
		if !ok {
			return nil, fmt.Errorf("%w: Unable to access interface: No such device", errExit)
		}
		var b strings.Builder
		for k, ep := range peers {
			fmt.Fprintf(&b, "%s\t%s\n", k, ep)
		}
		return []byte(b.String()), nil
	case len(args) == 6 && args[0] == "set" && args[2] == "peer" && args[4] == "endpoint":
		peers, ok := f.ifs[args[1]]
		if !ok {
			return nil, fmt.Errorf("%w: Unable to access interface: No such device", errExit)
		}
		if _, ok := peers[args[3]]; !ok {
			f.t.Errorf("fakeWg: wg set would create unknown peer %s", args[3])
			return nil, errExit
		}
		if _, err := netip.ParseAddrPort(args[5]); err != nil {
			return nil, fmt.Errorf("%w: Unable to parse endpoint %q", errExit, args[5])
		}
		peers[args[3]] = args[5]
		return nil, nil
	}
	f.t.Errorf("fakeWg: unexpected call %q", call)
	return nil, errExit
}

// fakeSwanctl models charon behind swanctl: it knows the connections of the base
// swanctl.conf, merges the generated override files from confDir on --load-conns (as
// swanctl's parser does with included sections), and keeps established IKE_SAs with the
// remote address they were initiated to. Anything else fails the test.
type fakeSwanctl struct {
	t        *testing.T
	confDir  string
	base     map[string]swanConn // from swanctl.conf
	loaded   map[string]swanConn // in charon
	sas      map[string]string   // established IKE_SA name → remote address
	children map[string][]string // IKE_SA name → CHILD_SAs up
	calls    []string
	failInit bool
}

type swanConn struct {
	remote   string
	children []string
}

var overrideRe = regexp.MustCompile(`(?s)^(?:#[^\n]*\n)*connections \{\n\t([A-Za-z0-9_.-]+) \{\n\t\tremote_addrs = ([0-9a-fA-F.:]+)\n\t\}\n\}\n$`)

func (f *fakeSwanctl) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	call := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, call)
	if err := checkDeadline(f.t, ctx, call); err != nil {
		return nil, err
	}
	if name != "swanctl" {
		f.t.Errorf("fakeSwanctl: unexpected program %q", name)
		return nil, errExit
	}
	switch {
	case len(args) == 1 && args[0] == "--load-conns":
		conns := map[string]swanConn{}
		for n, c := range f.base {
			conns[n] = c
		}
		files, _ := filepath.Glob(filepath.Join(f.confDir, "*.conf"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			m := overrideRe.FindSubmatch(b)
			if m == nil {
				return nil, fmt.Errorf("%w: parsing %s failed", errExit, file)
			}
			c, ok := conns[string(m[1])]
			if !ok {
				return nil, fmt.Errorf("%w: loading connection %s failed: no local auth", errExit, m[1])
			}
			c.remote = string(m[2])
			conns[string(m[1])] = c
		}
		f.loaded = conns
		return []byte(fmt.Sprintf("loaded %d connections\n", len(conns))), nil
	case len(args) == 3 && args[0] == "--list-sas" && args[1] == "--ike":
		// As swanctl prints it; nothing (and exit 0) when no such IKE_SA is up.
		up, ok := f.sas[args[2]]
		if !ok {
			return nil, nil
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: #3, ESTABLISHED, IKEv2, 5c3e5e9b0fa2b1c6_i* 2a0a0f1d5d0e9d0b_r\n", args[2])
		fmt.Fprintf(&b, "  local  'office' @ 203.0.113.7[4500]\n  remote '%s' @ %s[4500]\n", up, up)
		b.WriteString("  AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048\n  established 42s ago, rekeying in 13950s\n")
		for i, ch := range f.children[args[2]] {
			fmt.Fprintf(&b, "  %s: #%d, reqid %d, INSTALLED, TUNNEL, ESP:AES_CBC-128/HMAC_SHA2_256_128\n    local  10.1.0.0/24\n    remote 10.2.0.0/24\n", ch, i+1, i+1)
		}
		return []byte(b.String()), nil
	case len(args) >= 3 && args[0] == "--terminate" && args[1] == "--ike":
		up, ok := f.sas[args[2]]
		if !ok {
			return nil, fmt.Errorf("%w: terminate failed: no matching SAs to terminate found", errExit)
		}
		// charon sends a DELETE to the SA's remote address; unless --force comes without
		// --timeout it waits for the answer, which a peer that has moved never sends.
		if force := slices.Equal(args[3:], []string{"--force"}); !force && up != f.loaded[args[2]].remote {
			f.t.Errorf("fakeSwanctl: %q waits for a DELETE answer from %s, which has moved to %s", call, up, f.loaded[args[2]].remote)
			return nil, errExit
		}
		delete(f.sas, args[2])
		delete(f.children, args[2])
		return nil, nil
	case len(args) >= 5 && args[0] == "--initiate" && args[1] == "--ike":
		conn := args[2]
		rest := args[3:]
		child := ""
		if len(rest) == 4 && rest[0] == "--child" {
			child, rest = rest[1], rest[2:]
		}
		if len(rest) != 2 || rest[0] != "--timeout" {
			f.t.Errorf("fakeSwanctl: unexpected call %q", call)
			return nil, errExit
		}
		c, ok := f.loaded[conn]
		if !ok {
			return nil, fmt.Errorf("%w: initiate failed: CHILD_SA config '%s' not found", errExit, conn)
		}
		if child != "" && !containsString(c.children, child) {
			return nil, fmt.Errorf("%w: initiate failed: CHILD_SA config '%s' not found", errExit, child)
		}
		if f.failInit {
			return nil, fmt.Errorf("%w: initiate failed: establishing CHILD_SA failed", errExit)
		}
		if up, ok := f.sas[conn]; ok && up != c.remote && child == "" || ok && up != c.remote && len(f.children[conn]) > 0 {
			f.t.Errorf("fakeSwanctl: initiate %s while the old IKE_SA to %s is still up", conn, up)
		}
		f.sas[conn] = c.remote
		if child != "" {
			f.children[conn] = append(f.children[conn], child)
		}
		return nil, nil
	}
	f.t.Errorf("fakeSwanctl: unexpected call %q", call)
	return nil, errExit
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
