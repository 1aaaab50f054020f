package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Bounds of external commands.
const (
	// CommandTimeout bounds one router tool call (swanctl, wg) unless a driver sets another.
	CommandTimeout = 30 * time.Second
	// WaitDelay is how long a killed command (or a child it left holding its output) may
	// take to let go of its pipes before they are closed and Run returns.
	WaitDelay = 5 * time.Second
)

// ErrTimeout means a router tool or call did not finish within its timeout.
var ErrTimeout = errors.New("timed out")

// Runner runs a program with arguments and returns its standard output. Drivers that call
// router tools (swanctl, wg) take a Runner so tests can pass a fake that keeps state.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs programs with os/exec.
type ExecRunner struct{}

var _ Runner = ExecRunner{}

// Run runs name with args until ctx ends (CommandTimeout when ctx has no deadline): then
// the command is killed and, WaitDelay later at most, Run returns even if a child it
// started still holds its output. A non-zero exit becomes an error carrying the last line
// of standard error.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CommandTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = WaitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitedBuffer{buf: &stderr, max: 4096}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return stdout.Bytes(), fmt.Errorf("%s %s: %w (%v)", name, strings.Join(args, " "), ErrTimeout, context.Cause(ctx))
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// runWithin runs one tool call through r with its own deadline d, so a hung tool cannot
// hold the cycle (and the lock) beyond it, whatever Runner is used.
func runWithin(ctx context.Context, r Runner, d time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return r.Run(ctx, name, args...)
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
