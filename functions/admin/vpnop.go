package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ppter/ppter/functions/internal/app"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/store"
)

// The re-point saved for one connection, in the function's Redis (its config's redis.url
// and prefix, and its state key): vpn-op show inspects it, vpn-op resume finishes it.
var (
	vpnOpShowCmd = command{
		name: "vpn-op show", args: "--gateway ID --connection NAME --config FILE [--tunnel ROLE]",
		what:  "the re-point saved for a connection in the function's Redis, as JSON with its PSKs redacted; needs PPTER_STATE_KEY",
		flags: []string{"gateway", "connection", "tunnel", "config"},
		run:   func(ctx context.Context, o *opts, stdout, _ io.Writer) error { return vpnOp(ctx, o, false, stdout) },
	}
	vpnOpResumeCmd = command{
		name: "vpn-op resume", args: "--gateway ID --connection NAME --config FILE [--tunnel ROLE] [--timeout D]",
		what:  "finish a saved re-point as the function would, under its locks; needs PPTER_STATE_KEY and the cloud credentials",
		flags: []string{"gateway", "connection", "tunnel", "config", "timeout"},
		run:   func(ctx context.Context, o *opts, stdout, _ io.Writer) error { return vpnOp(ctx, o, true, stdout) },
	}
)

func vpnOp(ctx context.Context, o *opts, resume bool, stdout io.Writer) error {
	sub := map[bool]string{false: "show", true: "resume"}[resume]
	if o.config == "" || o.gateway == "" || o.conn == "" {
		return usagef("vpn-op %s needs --config (or PPTER_CONFIG), --gateway and --connection", sub)
	}
	cfg, err := o.loadConfig(true)
	if err != nil {
		return err
	}
	if cfg.Redis.Memory {
		return usagef("vpn-op reads the function's Redis; redis.url is memory://…")
	}
	var cc cloud.ClientConfig
	if resume {
		if cc, err = o.cloudConfig(cfg); err != nil {
			return err
		}
	}
	st, err := store.NewRedis(ctx, cfg.Redis.URL, app.StoreOptions(cfg))
	if err != nil {
		return usagef("%v", err)
	}
	defer st.Client().Close()
	r := cloud.New(cloud.Reconciler{State: cloud.NewRedis(st.Client(), cfg.Redis.Prefix, app.StateOptions(cfg)), Region: cfg.Aliyun.Region})
	target := cloud.VPNConn{Gateway: o.gateway, Connection: o.conn}
	if o.tunnel != "" {
		target.Roles = []string{string(o.tunnel)} // as config.Site.Units makes a per-tunnel target
	}
	var op cloud.VPNOp
	if !resume {
		op, err = r.SavedOp(ctx, target)
	} else {
		if r.VPC, err = cloud.NewVPCClient(cc); err != nil {
			return usagef("%v", err)
		}
		rctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		op, err = r.ResumeSaved(rctx, target)
	}
	if errors.Is(err, cloud.ErrNoSavedOp) {
		fmt.Fprintf(stdout, "no re-point saved for %s on %s\n", target.Name(), o.gateway)
		return nil
	}
	if err == nil || op.ID != "" { // a resume that failed part-way shows the op as it left it
		b, jerr := json.MarshalIndent(op, "", "  ")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if err != nil {
		return fmt.Errorf("vpn-op %s: %s", sub, cloud.LogError(err)) // a request URL's query holds PSKs
	}
	if resume {
		fmt.Fprintf(stdout, "re-point of %s finished: %s\n", target.Name(), op.NewIP)
	}
	return nil
}

// tunnelRole is --tunnel: the tunnel of a connection whose tunnels follow two lines, whose
// re-point the function saves under its own key (GATEWAY/CONNECTION#master). Empty: the
// connection as a whole.
type tunnelRole string

func (r *tunnelRole) String() string { return string(*r) }
func (r *tunnelRole) Type() string   { return "role" }

func (r *tunnelRole) Set(s string) error {
	if s != cloud.RoleMaster && s != cloud.RoleSlave {
		return fmt.Errorf("%q is not a tunnel role (%s or %s)", s, cloud.RoleMaster, cloud.RoleSlave)
	}
	*r = tunnelRole(s)
	return nil
}
