package router

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/site"
)

func TestExecRunsShellWithChangeEnv(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hook.log")
	cmd := `printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$PPTER_EVENT" "$PPTER_PEER" "$PPTER_PEER_IP" "$PPTER_PEER_OLD_IP" "$PPTER_SELF_IP" "$PPTER_FAMILY" "${PPTER_KEY-unset}" "$HOOK_EXTRA" "$PPTER_PEER_LINE" "$PPTER_SELF_LINE" >> "$HOOK_OUT"`
	tests := []struct {
		name   string
		self   bool
		peers  []site.Peer
		change Change
		want   string // empty: the hook must not run (Wants false)
	}{
		{
			name:   "peer ipv4 first apply",
			change: Change{Peer: "bj", Family: 4, New: netip.MustParseAddr("198.51.100.9"), SelfIP: netip.MustParseAddr("203.0.113.7")},
			want:   "peer|bj|198.51.100.9||203.0.113.7|ipv4|unset|x||",
		},
		{
			name:   "peer ipv6 change",
			change: Change{Peer: "sh", Family: 6, Old: netip.MustParseAddr("2001:db8::1"), New: netip.MustParseAddr("2001:db8::2"), SelfIP: netip.MustParseAddr("2001:db8::7")},
			want:   "peer|sh|2001:db8::2|2001:db8::1|2001:db8::7|ipv6|unset|x||",
		},
		{
			name:   "peer line from the office's line of that name",
			peers:  []site.Peer{{Site: "bj", Line: "unicom"}},
			change: Change{Peer: "bj", Line: "unicom", Family: 4, New: netip.MustParseAddr("198.51.100.20"), SelfIP: netip.MustParseAddr("203.0.113.8"), SelfLine: "unicom"},
			want:   "peer|bj|198.51.100.20||203.0.113.8|ipv4|unset|x|unicom|unicom",
		},
		{
			name:   "self change ignored by default",
			change: Change{Peer: "hz", Self: true, Family: 4, New: netip.MustParseAddr("203.0.113.8")},
		},
		{
			name:   "self change when enabled",
			self:   true,
			change: Change{Peer: "hz", Line: "telecom", Self: true, Family: 4, Old: netip.MustParseAddr("203.0.113.7"), New: netip.MustParseAddr("203.0.113.8"), SelfIP: netip.MustParseAddr("203.0.113.8"), SelfLine: "telecom"},
			want:   "self||||203.0.113.8|ipv4|unset|x|telecom|telecom",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			d, err := NewExec(ExecConfig{
				Command: cmd, Self: tc.self, Peers: tc.peers,
				Env: []string{"PATH=/usr/bin:/bin", "HOOK_OUT=" + out, "HOOK_EXTRA=x", "PPTER_LINE=mobile"}, // the pinger's own --line
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Wants(tc.change); got != (tc.want != "") {
				t.Fatalf("Wants = %v, want %v", got, tc.want != "")
			}
			if tc.want == "" {
				return
			}
			if err := d.Apply(context.Background(), tc.change); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(b)); got != tc.want {
				t.Errorf("hook saw %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExecFailures(t *testing.T) {
	c := Change{Peer: "bj", Family: 4, New: netip.MustParseAddr("198.51.100.9")}
	tests := []struct {
		name    string
		command string
		timeout time.Duration
		ctx     func() context.Context
		want    string
	}{
		{name: "non-zero exit", command: "echo boom >&2; exit 3", want: "exit status 3"},
		{name: "timeout", command: "exec sleep 5", timeout: 50 * time.Millisecond, want: "timed out"},
		{name: "cancelled", command: "exit 0", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, want: "exec hook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			d, err := NewExec(ExecConfig{Command: tc.command, Timeout: tc.timeout, Output: &out})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			err = d.Apply(ctx, c)
			if !errors.Is(err, ErrApply) {
				t.Fatalf("got %v, want ErrApply", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewExecNeedsCommand(t *testing.T) {
	if _, err := NewExec(ExecConfig{Command: "  "}); !errors.Is(err, ErrNoCommand) {
		t.Fatalf("got %v, want ErrNoCommand", err)
	}
}

// TestExecPeersAllowList: with peers set, the hook runs only for those peers (issue 11,
// point 11); self changes follow Self as before.
func TestExecPeersAllowList(t *testing.T) {
	ip := netip.MustParseAddr("198.51.100.9")
	tests := []struct {
		name   string
		peers  []site.Peer
		self   bool
		change Change
		want   bool
	}{
		{name: "no list: every peer", change: Change{Peer: "gz", Family: 4, New: ip}, want: true},
		{name: "listed peer", peers: []site.Peer{{Site: "bj"}, {Site: "sh"}}, change: Change{Peer: "sh", Family: 4, New: ip}, want: true},
		{name: "no list: not a named line", change: Change{Peer: "gz", Line: "unicom", Family: 4, New: ip}, want: false},
		{name: "listed line", peers: []site.Peer{{Site: "bj", Line: "unicom"}}, change: Change{Peer: "bj", Line: "unicom", Family: 4, New: ip}, want: true},
		{name: "listed line, default line change", peers: []site.Peer{{Site: "bj", Line: "unicom"}}, change: Change{Peer: "bj", Family: 4, New: ip}, want: false},
		{name: "unlisted peer", peers: []site.Peer{{Site: "bj"}, {Site: "sh"}}, change: Change{Peer: "gz", Family: 4, New: ip}, want: false},
		{name: "self with list and self on", peers: []site.Peer{{Site: "bj"}}, self: true, change: Change{Peer: "hz", Self: true, Family: 4, New: ip}, want: true},
		{name: "self with list and self off", peers: []site.Peer{{Site: "hz"}}, change: Change{Peer: "hz", Self: true, Family: 4, New: ip}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewExec(ExecConfig{Command: "exit 0", Peers: tc.peers, Self: tc.self})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Wants(tc.change); got != tc.want {
				t.Errorf("got Wants %v, want %v", got, tc.want)
			}
			if got := d.Mapped(); !slices.Equal(got, tc.peers) {
				t.Errorf("Mapped %v, want %v", got, tc.peers)
			}
		})
	}
}
