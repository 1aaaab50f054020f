// Package app wires the function together: it reads the configuration once, opens the
// store, and turns each Function Compute invocation (HTTP trigger or timer) into a call on
// the API server, writing one structured log line per invocation.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/wire"
)

// App is the function's state for the life of an instance.
type App struct {
	Config *config.Config
	Store  store.Store
	api    *api.Server
	log    *slog.Logger
	now    func() time.Time
}

// Env is the process environment (os.LookupEnv in production).
type Env = config.Env

// New reads the configuration (PPTER_CONFIG, else ppter.yaml in dir, else the embedded
// example) and opens the store.
func New(ctx context.Context, env Env, readFile config.ReadFile, dir string, logOut io.Writer) (*App, error) {
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	cfg, from, err := config.Load(env, readFile, dir)
	if err != nil {
		return nil, fmt.Errorf("config (%s): %w", from, err)
	}
	st, state, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("config (%s): redis.url: %w", from, err)
	}
	n, err := notify.New(cfg.Notify, notify.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("config (%s): %w", from, err)
	}
	opt := api.Options{Notifier: n}
	if hasTargets(cfg) {
		opt.Cloud = &cloudTargets{cfg: cfg, state: state, store: st, notifier: n, log: log, now: time.Now}
	}
	for _, w := range cfg.Warnings {
		log.Warn("config: "+w, "config", from)
	}
	kind := "redis"
	if cfg.Redis.Memory {
		kind = "memory"
	}
	log.Info("ppter ready", "config", from, "sites", len(cfg.Sites), "store", kind,
		"webhooks", len(cfg.Notify), "cloud_targets", hasTargets(cfg), "dry_run", cfg.Aliyun.DryRun)
	return NewWith(cfg, st, log, time.Now, opt), nil
}

// openStore opens the store redis.url names and, in the same place, the reconciler's state.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, cloud.State, error) {
	if cfg.Redis.Memory {
		if cfg.InsideFC {
			return nil, nil, store.ErrInsideFC
		}
		return store.NewMemory(StoreOptions(cfg)), cloud.NewMemory(time.Now), nil
	}
	st, err := store.NewRedis(ctx, cfg.Redis.URL, StoreOptions(cfg))
	if err != nil {
		return nil, nil, err
	}
	return st, cloud.NewRedis(st.Client(), cfg.Redis.Prefix, StateOptions(cfg)), nil
}

// StoreOptions maps the configuration onto store options.
func StoreOptions(cfg *config.Config) store.Options {
	return store.Options{
		Prefix:        cfg.Redis.Prefix,
		EventsMax:     cfg.Events.Max,
		FailureWindow: cfg.Auth.FailureWindow,
		// A ping handling a change reconciles for at most its budget and margin; past
		// that (the instance died) a later ping takes the change over.
		HandleLease: cfg.Aliyun.PingBudget + cloud.DefaultMargin + 10*time.Second,
		Timeout:     2 * time.Second,
		Now:         time.Now,
		ConfigID:    configID(cfg),
	}
}

// StateOptions maps the configuration onto the reconciler's Redis state options: the state
// key, and one replica to confirm a saved re-point unless redis.single_node.
func StateOptions(cfg *config.Config) cloud.RedisOptions {
	var o cloud.RedisOptions
	if cfg.StateKey != nil {
		o.Key, _ = cloud.NewStateKey(cfg.StateKey) // validated: 32 bytes
	}
	if !cfg.Redis.SingleNode {
		o.Replicas = 1
	}
	return o
}

// configID names the sites, each one's peers and lines: another configuration gets another id,
// and a since given under the old one a full answer.
func configID(cfg *config.Config) string {
	h := sha256.New()
	for _, n := range cfg.SiteNames {
		fmt.Fprintf(h, "%s:", n)
		for _, p := range cfg.Peers(n) {
			fmt.Fprintf(h, "%s,", p)
		}
		if ls := cfg.Sites[n].LineNames; len(ls) > 0 {
			fmt.Fprintf(h, "lines:%v", ls) // a peer's lines are its slots in a delta
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// NewWith builds an App from parts (tests and benchmarks); opt's Now and Log are set from
// now and log.
func NewWith(cfg *config.Config, st store.Store, log *slog.Logger, now func() time.Time, opt api.Options) *App {
	opt.Now, opt.Log = now, log
	return &App{
		Config: cfg,
		Store:  st,
		api:    api.New(cfg, st, opt),
		log:    log,
		now:    now,
	}
}

// Handle is the function's handler for fc.Start: it answers HTTP trigger events with an
// HTTP trigger response and runs the periodic reconcile on timer events.
func (a *App) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	start := a.now()
	reqID := ""
	if fc, ok := fccontext.FromContext(ctx); ok {
		reqID = fc.RequestID
	}
	ev, err := fcevent.Decode(payload)
	switch ev := ev.(type) {
	case *fcevent.HTTP:
		if ev.RequestID == "" {
			ev.RequestID = reqID
		}
		resp, out := a.api.Serve(ctx, ev, err)
		a.api.Flush(ctx)
		a.log.LogAttrs(ctx, level(resp.Status), "request",
			slog.String("request_id", ev.RequestID),
			slog.String("route", out.Route),
			slog.String("site", string(out.Site)),
			slog.String("source", ev.Source.String()),
			slog.Int("status", resp.Status),
			slog.String("outcome", out.Code),
			slog.Bool("changed", out.Changed),
			slog.Float64("latency_ms", float64(a.now().Sub(start).Microseconds())/1000),
		)
		return fcevent.Encode(resp), nil
	case *fcevent.Timer:
		run := a.api.Tick
		if ev.Payload == api.ResumePayload {
			run = a.api.Resume
		}
		rep, err := run(ctx)
		a.api.Flush(ctx)
		lvl, failed := slog.LevelInfo, 0
		for _, ts := range rep.Targets {
			for _, t := range ts {
				if t.State == wire.StateError {
					failed++
				}
			}
		}
		if err != nil || failed > 0 {
			lvl = slog.LevelWarn
		}
		a.log.LogAttrs(ctx, lvl, "timer",
			slog.String("request_id", reqID),
			slog.String("trigger", ev.TriggerName),
			slog.Int("sites", rep.Sites),
			slog.Any("stale", rep.Stale),
			slog.Int("targets_failed", failed),
			slog.String("err", errString(err)),
			slog.Float64("latency_ms", float64(a.now().Sub(start).Microseconds())/1000),
		)
		if err != nil {
			return nil, fmt.Errorf("ppter timer: %w", err)
		}
		return rep, nil
	default:
		a.log.LogAttrs(ctx, slog.LevelWarn, "unrecognised event", slog.String("request_id", reqID), slog.String("err", errString(err)))
		return nil, errors.New("ppter: unrecognised event (expected an HTTP trigger or timer event)")
	}
}

func level(status int) slog.Level {
	switch {
	case status >= http.StatusInternalServerError:
		return slog.LevelError
	case status >= http.StatusBadRequest:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
