//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Names of everything a run creates start with prefix; a run adds a random suffix.
const prefix = "ppe2e-"

// leftoverAge is how old a namespace of an earlier run must be before a new run deletes it:
// older than the longest run (make e2e's -timeout), so a concurrent run is left alone.
const leftoverAge = 20 * time.Minute

// WAN segment: only RFC 5737 documentation ranges, reached on-link over the "internet" bridge.
var wanRanges = []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"}

// requireHost skips the test unless it runs as root with the tools it needs.
func requireHost(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, TUN)")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("missing tools: %s (see .ci/run for the Debian packages)", strings.Join(missing, ", "))
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
}

// runID returns a random suffix that makes one run's names unique.
func runID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cleanLeftovers deletes namespaces (and the processes in them) and wireguard-go sockets
// that earlier runs left behind when they were killed before their cleanup ran.
func cleanLeftovers(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < leftoverAge {
			continue
		}
		t.Logf("deleting namespace %s left by an earlier run", e.Name())
		deleteNetns(e.Name())
	}
	socks, _ := filepath.Glob("/var/run/wireguard/" + wgPrefix + "*.sock")
	for _, s := range socks {
		if info, err := os.Stat(s); err == nil && time.Since(info.ModTime()) > leftoverAge {
			_ = os.Remove(s)
		}
	}
}

// deleteNetns kills every process in a namespace and deletes it, with the files that
// `ip netns exec` mounts over /etc in it.
func deleteNetns(name string) {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
	_ = os.RemoveAll(filepath.Join("/etc/netns", name))
}

// run runs a command (bounded to 30 s) and fails the test when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := tryRun(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func tryRun(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// netns is a network namespace created by the test.
type netns string

func newNetns(t *testing.T, name string) netns {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { deleteNetns(name) })
	n := netns(name)
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs `ip -n NS ARGS…`.
func (n netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", string(n)}, args...)...)
}

// exec runs a command inside the namespace.
func (n netns) exec(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", string(n)}, args...)...)
}

// do runs fn on an OS thread switched into the namespace. Sockets created by fn stay in
// the namespace after the thread switches back; so does a process fn starts (it is forked
// from that thread).
func (n netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + string(n))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the runtime discards the thread when this goroutine ends.
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// dial connects to addr from inside the namespace.
func (n netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// lineLog collects a process's output, echoes each line to the test log and lets the test
// count lines. Writes after the test's last cleanup are dropped.
type lineLog struct {
	t      *testing.T
	name   string
	mu     sync.Mutex
	buf    bytes.Buffer
	part   []byte
	full   []string // complete lines
	closed bool
}

func newLineLog(t *testing.T, name string) *lineLog {
	l := &lineLog{t: t, name: name}
	t.Cleanup(func() { l.mu.Lock(); l.closed = true; l.mu.Unlock() })
	return l
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	l.buf.Write(p)
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.t.Logf("%s: %s", l.name, l.part[:i])
		l.full = append(l.full, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	return len(p), nil
}

// linesFrom returns the complete lines of the output after the first n.
func (l *lineLog) linesFrom(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.full[min(n, len(l.full)):])
}

// count returns how many times s occurs in the output so far.
func (l *lineLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.buf.Bytes(), []byte(s))
}

// proc is a long-running process inside a namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *lineLog
	done chan struct{}
	once sync.Once
}

// start runs args inside the namespace (`ip netns exec` execs the program, so the process
// is the program itself) until stop or the end of the test. It dies with the test binary.
func (n netns) start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: newLineLog(t, name), done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", string(n)}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

// stop asks the process to end (SIGTERM), kills it after 5 s, and waits for it.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// poll calls cond every step until it returns true or timeout passes; it returns how long
// that took and whether cond came true. Real processes are involved, so this waits with a
// deadline instead of a clock.
func poll(timeout, step time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		t0 := time.Now()
		if cond() {
			return time.Since(start), true
		}
		if time.Now().After(deadline) {
			return time.Since(start), false
		}
		if d := step - time.Since(t0); d > 0 {
			time.Sleep(d) // pacing between attempts, not a wait for an outcome
		}
	}
}

// host32 formats an address as a /32 for `ip addr`.
func host32(a netip.Addr) string { return netip.PrefixFrom(a, 32).String() }
