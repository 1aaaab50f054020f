package main

import (
	"context"
	"fmt"
	"io"
)

var checkConfigCmd = command{
	name: "check-config", args: "--config FILE", what: "validate the function's config file as the function would",
	flags: []string{"config"},
	run: func(_ context.Context, o *opts, stdout, stderr io.Writer) error {
		cfg, err := o.loadConfig(true)
		if err != nil {
			return err
		}
		targets := 0
		for _, s := range cfg.Sites {
			targets += len(s.DNS) + len(s.VPN)
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", o.config, w)
		}
		_, err = fmt.Fprintf(stdout, "%s: ok — %d sites, %d cloud targets, dry_run=%v\n", o.config, len(cfg.Sites), targets, cfg.Aliyun.DryRun)
		return err
	},
}
