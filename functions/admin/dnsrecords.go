package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ppter/ppter/functions/internal/cloud"
)

var dnsRecordsCmd = command{
	name: "dns-records", args: "--zone ZONE [--config FILE] [--region R]",
	what:  "a zone's records (RR, type, value, record ID, TTL, line), to fill in sites.*.dns; the config is optional (its aliyun endpoints and region)",
	flags: []string{"zone", "config", "region"},
	run: func(_ context.Context, o *opts, stdout, _ io.Writer) error {
		if o.zone == "" {
			return usagef("--zone is required")
		}
		cc, err := o.cloudConfig(nil)
		if err != nil {
			return err
		}
		c, err := cloud.NewDNSClient(cc)
		if err != nil {
			return usagef("%v", err)
		}
		recs, err := cloud.ListZone(c, o.zone)
		if err != nil {
			return fmt.Errorf("dns-records %s: %w", o.zone, err)
		}
		return cloud.PrintZone(stdout, recs)
	},
}
