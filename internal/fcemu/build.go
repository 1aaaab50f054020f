package fcemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// BuildFunction compiles ./functions/ppter (the deployable binary: static, CGO_ENABLED=0)
// once per test binary and returns its path.
func BuildFunction(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ppter-fn-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "main")
		cmd := exec.Command("go", "build", "-trimpath", "-o", buildPath, "./functions/ppter")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build function: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

// StartT starts an emulator for a test and stops it when the test ends. The function's
// output goes to the test log.
func StartT(t testing.TB, opt Options) *Emulator {
	t.Helper()
	if opt.Binary == "" {
		opt.Binary = BuildFunction(t)
	}
	if opt.Stdout == nil {
		opt.Stdout = testWriter{t}
	}
	if opt.Stderr == nil {
		opt.Stderr = testWriter{t}
	}
	e, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("function: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WaitExit reports whether the function process ended within d (for start-up failures).
func (e *Emulator) WaitExit(d time.Duration) bool {
	select {
	case <-e.exited:
		return true
	case <-time.After(d):
		return false
	}
}
