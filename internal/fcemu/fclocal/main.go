// Command fclocal serves a compiled ppter function locally the way Function Compute 3 runs
// it (see package fcemu). `make run` uses it:
//
//	fclocal --binary bin/fc/main --listen 127.0.0.1:9000
//
// The function's environment is fclocal's own (PPTER_CONFIG, PPTER_KEY_*, …), minus
// anything that would make it believe it runs inside Function Compute.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppter/ppter/internal/fcemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fclocal:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fclocal", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	binary := fs.String("binary", "bin/fc/main", "the compiled function `path`")
	listen := fs.String("listen", "127.0.0.1:9000", "gateway listen `address`")
	timeout := fs.Duration("timeout", 30*time.Second, "function `timeout`")
	timer := fs.Duration("timer", 0, "invoke the timer trigger every `interval` (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var fnEnv []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "FC_") {
			continue
		}
		fnEnv = append(fnEnv, kv)
	}
	emu, err := fcemu.Start(ctx, fcemu.Options{Binary: *binary, Addr: *listen, Timeout: *timeout, Env: fnEnv, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return err
	}
	defer emu.Close()
	fmt.Fprintf(stderr, "\nppter is serving on %s (Ctrl-C stops it). Try:\n\n", emu.URL)
	fmt.Fprintf(stderr, "  curl %s/healthz\n", emu.URL)
	fmt.Fprintf(stderr, "  curl -u SITE:KEY -X POST %s/v1/ping\n\n", emu.URL)
	var tick <-chan time.Time
	if *timer > 0 {
		t := time.NewTicker(*timer)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-emu.Exited():
			return errors.New("the function exited (see its error above)")
		case now := <-tick:
			if _, ok, err := emu.Invoke(ctx, fcemu.TimerEvent("reconcile", "", now)); err != nil || !ok {
				fmt.Fprintf(stderr, "fclocal: timer invocation failed: %v\n", err)
			}
		}
	}
}
