package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// ExecConfig configures the exec driver.
type ExecConfig struct {
	// Command is run by /bin/sh -c (cmd /C on Windows) once per change.
	Command string
	// Peers, when not empty, limits the hook to these peer lines ("bj", "bj/unicom");
	// others are not applied (and not recorded, so adding a peer later applies it then).
	// Without it the hook gets every peer's default line.
	Peers []site.Peer
	// Self also runs Command for the office's own address change (PPTER_EVENT=self).
	Self bool
	// Timeout bounds one run; 60 s when zero.
	Timeout time.Duration
	// Env is the base environment of the command (the pinger's own, minus its secrets).
	Env []string
	// Output receives the command's standard output and error.
	Output io.Writer
}

// Exec is the universal escape hatch: it runs a user command for each change, with the
// change in its environment — PPTER_PEER, PPTER_PEER_IP, PPTER_PEER_OLD_IP,
// PPTER_PEER_LINE (not PPTER_LINE: that is the pinger's own --line setting, which the hook
// inherits), PPTER_SELF_IP and PPTER_SELF_LINE (the office's line SelfIP is of),
// PPTER_FAMILY (ipv4 or ipv6) and PPTER_EVENT (peer or self) — and its exit status decides
// success. Use it for any router the other drivers do not cover.
type Exec struct {
	cfg   ExecConfig
	shell []string
}

var _ Driver = (*Exec)(nil)

// ErrNoCommand means the exec driver has no command.
var ErrNoCommand = errors.New("exec driver: no command (set --exec or PPTER_EXEC)")

// NewExec returns an exec driver.
func NewExec(cfg ExecConfig) (*Exec, error) {
	if strings.TrimSpace(cfg.Command) == "" {
		return nil, ErrNoCommand
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	shell := []string{"/bin/sh", "-c"}
	if runtime.GOOS == "windows" {
		shell = []string{"cmd.exe", "/C"}
	}
	return &Exec{cfg: cfg, shell: shell}, nil
}

// Wants accepts the change of every peer's default line (or those of the listed peer
// lines), and self changes when configured.
func (e *Exec) Wants(c Change) bool {
	if c.Self {
		return e.cfg.Self
	}
	if len(e.cfg.Peers) == 0 {
		return c.Line == ""
	}
	return slices.Contains(e.cfg.Peers, c.Ref())
}

// Mapped lists the peer lines of the allow-list.
func (e *Exec) Mapped() []site.Peer { return e.cfg.Peers }

// Apply runs the command for c.
func (e *Exec) Apply(ctx context.Context, c Change) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.shell[0], e.shell[1], e.cfg.Command)
	cmd.Env = append(append([]string(nil), e.cfg.Env...), changeEnv(c)...)
	cmd.Stdout, cmd.Stderr = e.cfg.Output, e.cfg.Output
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: exec hook for %s: timed out after %s", ErrApply, c, e.cfg.Timeout)
		}
		return fmt.Errorf("%w: exec hook for %s: %v", ErrApply, c, err)
	}
	return nil
}

func changeEnv(c Change) []string {
	if c.Self {
		return []string{
			"PPTER_EVENT=self",
			"PPTER_PEER=",
			"PPTER_PEER_IP=",
			"PPTER_PEER_OLD_IP=",
			"PPTER_SELF_IP=" + wire.AddrString(c.New),
			"PPTER_SELF_OLD_IP=" + wire.AddrString(c.Old),
			"PPTER_FAMILY=" + c.Family.String(),
			"PPTER_PEER_LINE=" + string(c.Line),
			"PPTER_SELF_LINE=" + string(c.SelfLine),
		}
	}
	return []string{
		"PPTER_EVENT=peer",
		"PPTER_PEER=" + string(c.Peer),
		"PPTER_PEER_IP=" + wire.AddrString(c.New),
		"PPTER_PEER_OLD_IP=" + wire.AddrString(c.Old),
		"PPTER_SELF_IP=" + wire.AddrString(c.SelfIP),
		"PPTER_FAMILY=" + c.Family.String(),
		"PPTER_PEER_LINE=" + string(c.Line),
		"PPTER_SELF_LINE=" + string(c.SelfLine),
	}
}
