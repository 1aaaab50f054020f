// Package redistest gives tests a real Redis server: a redis-server process started once per
// test binary on a free loopback port, or the server named by PPTER_TEST_REDIS_URL. Each
// caller gets its own key namespace so tests never see each other's keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points tests at an existing server.
const EnvURL = "PPTER_TEST_REDIS_URL"

var (
	once    sync.Once
	url     string
	initErr error
)

// URL returns the URL of the test Redis server, starting one when needed. It fails the test
// when no server can be had (redis-server missing from PATH and no PPTER_TEST_REDIS_URL).
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			url = u
			return
		}
		url, initErr = start()
	})
	if initErr != nil {
		t.Fatalf("redistest: %v", initErr)
	}
	return url
}

// Namespace returns a fresh Redis hash-tagged key prefix, such as "{ppter-t-3fa1c2}", for one test.
func Namespace() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "{ppter-t-" + hex.EncodeToString(b) + "}"
}

// Client returns a go-redis client on the test server, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// start runs redis-server on a free loopback port. The server dies with the test binary
// (Pdeathsig), so nothing is left behind even when a test panics.
func start() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found (install it, e.g. apt-get install redis-server, or set %s): %w", EnvURL, err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "ppter-redis-")
		if err != nil {
			return "", err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return "", fmt.Errorf("start redis-server: %w", err)
		}
		u := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		if lastErr = waitReady(u, cmd); lastErr == nil {
			return u, nil
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return "", fmt.Errorf("redis-server did not start: %w", lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the real process until it answers PING, with a deadline.
func waitReady(u string, cmd *exec.Cmd) error {
	opt, _ := redis.ParseURL(u)
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exited := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(exited) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("redis-server exited (port taken?)")
		case <-tick.C:
		}
	}
}
