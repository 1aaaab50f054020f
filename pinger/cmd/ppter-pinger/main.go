// Command ppter-pinger is the ppter office client: it reports the office's public address
// to the ppter function with a signed ping, learns the peers' addresses and reconfigures
// the local router through a driver when one changed. See pinger/README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for routers without a CA bundle

	"github.com/ppter/ppter/pinger/internal/agent"
	"github.com/ppter/ppter/pinger/internal/client"
	"github.com/ppter/ppter/pinger/internal/config"
	"github.com/ppter/ppter/pinger/internal/lock"
	"github.com/ppter/ppter/pinger/internal/netwatch"
	"github.com/ppter/ppter/pinger/internal/ownaddr"
	"github.com/ppter/ppter/shared/wire"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// hostAddrs lists this host's addresses for --expect-own-address; tests replace it.
var hostAddrs = ownaddr.HostAddrs

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ppter-pinger:", err)
	}
	os.Exit(exitCode(err))
}

// Exit codes, listed in --help.
const (
	exitOK        = 0
	exitTransient = 1
	exitUsage     = 2
	exitRejected  = 3
)

// exitCode maps an error of run to the process exit code; this is the only place that does.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, client.ErrRejected):
		return exitRejected
	case errors.Is(err, config.ErrUsage), errors.Is(err, client.ErrRequest): // ErrRequest includes ErrUnknownLine
		return exitUsage
	default:
		return exitTransient
	}
}

// run is the whole program: parse the configuration, then run one cycle or watch.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(args, env)
	if err != nil {
		return err
	}
	if cfg.Help {
		_, err := io.WriteString(stdout, config.Usage())
		return err
	}
	if cfg.Version {
		_, err := fmt.Fprintf(stdout, "ppter-pinger %s\n", version)
		return err
	}
	log := newLogger(cfg.LogFormat, stderr)
	driver, err := cfg.NewDriver(env, stderr)
	if err != nil {
		return err
	}
	var pings []agent.Ping
	var own *ownaddr.Checker // one for the process: each address is warned of once
	if cfg.ExpectOwnAddress {
		own = ownaddr.New(hostAddrs, log)
	}
	clock := client.NewClock(log) // the host's clock, for every line's and family's pings
	for _, l := range cfg.Lines {
		for _, f := range cfg.IPFamily.Families() {
			p, err := newPinger(cfg, l, f, clock)
			if err != nil {
				return fmt.Errorf("%w: %w", config.ErrUsage, err)
			}
			if own != nil {
				p = own.Wrap(p)
			}
			pings = append(pings, agent.Ping{Line: l.Name, Family: f, Pinger: p, Endpoint: cfg.URL.String(), BindAddress: l.BindAddress})
		}
	}
	var changes <-chan struct{}
	if cfg.Watch > 0 {
		// Ping at once when the host's addresses or default route change; without the
		// events (not Linux, or no netlink) the interval alone drives the pings.
		if changes, err = netwatch.Watch(ctx); err != nil {
			log.Info("no network change events; pinging on the interval only", "err", err.Error())
		}
	}
	a := agent.New(agent.Options{
		Site: cfg.Site, Pings: pings, Driver: driver, StatePath: cfg.StatePath,
		DryRun: cfg.DryRun, AllowPrivatePeers: cfg.AllowPrivatePeers, MaxPeers: cfg.MaxPeers,
		CycleTimeout: cfg.CycleTimeout, NetChanges: changes,
		Log: log, Out: stdout,
	})
	if !cfg.DryRun {
		l, err := lock.Acquire(cfg.LockPath)
		if err != nil {
			return err
		}
		defer l.Release()
	}
	if cfg.Watch > 0 {
		log.Info("watching", "site", string(cfg.Site), "every", cfg.Watch.String(), "driver", string(cfg.Driver))
		return a.Watch(ctx, cfg.Watch, nil, nil)
	}
	res, err := a.Cycle(ctx)
	if err == nil && len(res.Applied) == 0 && len(res.Pending) == 0 {
		log.Info("no change", "site", string(cfg.Site))
	}
	return err
}

func newPinger(cfg *config.Config, l config.Line, family wire.Family, clock *client.Clock) (agent.Pinger, error) {
	return client.New(client.Options{
		BaseURL: cfg.URL, Site: cfg.Site, Secret: cfg.Secret,
		Family: family, Line: l.Name, Source: client.Source{Address: l.BindAddress, Interface: l.Interface},
		Agent: "ppter-pinger/" + version, Clock: clock,
	})
}

func newLogger(f config.LogFormat, w io.Writer) *slog.Logger {
	if f == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
