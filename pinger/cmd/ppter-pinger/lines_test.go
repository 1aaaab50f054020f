package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/ppter/ppter/pinger/internal/client"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// lineHook logs each peer change with the line it is for.
const lineHook = `echo "$PPTER_PEER/$PPTER_PEER_LINE $PPTER_PEER_OLD_IP>$PPTER_PEER_IP" >> "$HOOK_OUT"`

// needLoopback2 skips unless 127.0.0.2 can be a source address (Linux answers for all of
// 127.0.0.0/8).
func needLoopback2(t *testing.T) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not an address of this host: %v", err)
	}
	c.Close()
}

// twoLineEnv is an office hz with lines telecom and unicom, and a peer bj with the same
// two lines on different addresses.
func twoLineEnv(t *testing.T) *env {
	e := newEnv(t)
	e.fn.DeclareLines("hz", "telecom", "unicom")
	e.fn.DeclareLines("bj", "telecom", "unicom")
	e.fn.SetLineAddr("bj", "telecom", "198.51.100.9")
	e.fn.SetLineAddr("bj", "unicom", "198.51.100.20")
	return e
}

const twoLines = "lines:\n  - { name: telecom, bind_address: 127.0.0.1 }\n  - { name: unicom, bind_address: 127.0.0.2 }\n"

// TestTwoLines runs one pinger for both lines of hz: each line is pinged from its bound
// address and recorded on its line; bj (its default line) and bj/unicom get each their
// line's address; a move of bj's unicom line changes only the bj/unicom mapping.
func TestTwoLines(t *testing.T) {
	needLoopback2(t)
	e := twoLineEnv(t)
	cfg := writeConfig(t, twoLines+"exec:\n  peers: [bj, bj/unicom]\n")
	if code, _, stderr := e.run([]string{"--config", cfg, "--exec", lineHook}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for line, want := range map[site.Line]string{"telecom": "127.0.0.1", "unicom": "127.0.0.2"} {
		if got := e.fn.Addr("hz", line, wire.IPv4); got.String() != want {
			t.Errorf("hz/%s recorded %s, want %s (its bind address)", line, got, want)
		}
	}
	want := []string{"bj/ >198.51.100.9", "bj/unicom >198.51.100.20"}
	if got := e.hookLines(); !slices.Equal(got, want) {
		t.Errorf("first run: got %q, want %q", got, want)
	}
	if got := e.fn.Pings(); got != 2 {
		t.Errorf("got %d pings, want 2 (one per line)", got)
	}

	e.fn.SetLineAddr("bj", "unicom", "198.51.100.21")
	if code, _, stderr := e.run([]string{"--config", cfg, "--exec", lineHook}); code != 0 {
		t.Fatalf("after the move: exit %d: %s", code, stderr)
	}
	want = append(want, "bj/unicom 198.51.100.20>198.51.100.21")
	if got := e.hookLines(); !slices.Equal(got, want) {
		t.Errorf("after bj's unicom line moved: got %q, want %q", got, want)
	}
}

// TestLineFailsOthersApplied: a line whose ping cannot leave (its bind address is not
// the host's) fails the cycle with exit 1 naming it, and the other line is applied.
func TestLineFailsOthersApplied(t *testing.T) {
	e := twoLineEnv(t)
	cfg := writeConfig(t, "lines:\n  - { name: telecom, bind_address: 127.0.0.1 }\n  - { name: unicom, bind_address: 192.0.2.1 }\n")
	code, _, stderr := e.run([]string{"--config", cfg, "--exec", lineHook})
	if code != exitTransient || !strings.Contains(stderr, "ping of line unicom over ipv4") {
		t.Fatalf("got exit %d, %s; want 1 naming line unicom", code, stderr)
	}
	if got, want := e.hookLines(), []string{"bj/ >198.51.100.9"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q (telecom's answer applied)", got, want)
	}
}

// TestUnknownLine: a line the site does not declare is a configuration error (exit 2)
// with a message that says so.
func TestUnknownLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines bool // hz declares lines
	}{{"site with lines", true}, {"site without lines", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.lines {
				e.fn.DeclareLines("hz", "telecom", "unicom")
			}
			code, _, stderr := e.run([]string{"--line", "mobile"})
			if code != exitUsage || !strings.Contains(stderr, "unknown_line") || !strings.Contains(stderr, "not one of the site's lines") {
				t.Fatalf("got exit %d, %s; want 2 with unknown_line explained", code, stderr)
			}
		})
	}
}

// TestMappedLineNotListed: a mapping of a line bj's answer does not list gets no address,
// with a warning; bj's default line is applied.
func TestMappedLineNotListed(t *testing.T) {
	e := newEnv(t)
	cfg := writeConfig(t, "exec:\n  peers: [bj, bj/unicom]\n")
	code, _, stderr := e.run([]string{"--config", cfg, "--exec", lineHook})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "names a line the peer does not have") || !strings.Contains(stderr, "peer=bj/unicom") {
		t.Errorf("no warning about bj/unicom in %s", stderr)
	}
	if got, want := e.hookLines(), []string{"bj/ >198.51.100.9"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLinesSameAddress: the function answers both lines of hz with one address (here both
// pings leave from 127.0.0.1, as a bound ping that exits by the other line does): the run
// warns once, naming both lines and the missing source rule, and still applies the peers.
func TestLinesSameAddress(t *testing.T) {
	e := twoLineEnv(t)
	cfg := writeConfig(t, "lines:\n  - { name: telecom }\n  - { name: unicom }\nexec:\n  peers: [bj, bj/unicom]\n")
	code, _, stderr := e.run([]string{"--config", cfg, "--exec", lineHook})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, `add a source rule" lines="telecom unicom" ip=127.0.0.1`); n != 1 {
		t.Errorf("got %d warnings naming both lines and 127.0.0.1, want 1:\n%s", n, stderr)
	}
	if got, want := e.hookLines(), []string{"bj/ >198.51.100.9", "bj/unicom >198.51.100.20"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestExitCodeGravest: a cycle whose lines failed differently exits with the gravest of
// their codes, as --help says: 3 if any line was rejected, else 2 (unknown_line), else 1,
// whatever the order of the lines.
func TestExitCodeGravest(t *testing.T) {
	transient := fmt.Errorf("ping of line telecom over ipv4: %w", client.ErrUnreachable)
	unknown := fmt.Errorf("ping of line unicom over ipv4: %w", client.ErrUnknownLine)
	rejected := fmt.Errorf("ping of line mobile over ipv4: %w", client.ErrRejected)
	for _, tc := range []struct {
		errs []error
		want int
	}{
		{[]error{transient}, exitTransient},
		{[]error{transient, unknown}, exitUsage},
		{[]error{unknown, transient}, exitUsage},
		{[]error{transient, rejected}, exitRejected},
		{[]error{unknown, rejected}, exitRejected},
		{[]error{rejected, unknown, transient}, exitRejected},
	} {
		err := errors.Join(tc.errs...)
		if got := exitCode(err); got != tc.want {
			t.Errorf("%q: exit %d, want %d", err, got, tc.want)
		}
	}
}
