package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ppter/ppter/functions/internal/cloud"
)

var vpnCmd = command{
	name: "vpn", args: "--gateway ID [--config FILE] [--region R]",
	what:  "a gateway's public IPs, its connections (kind, tunnels) and the region's customer gateways, without PSKs; the config is optional (its aliyun endpoints and region)",
	flags: []string{"gateway", "config", "region"},
	run: func(_ context.Context, o *opts, stdout, _ io.Writer) error {
		if o.gateway == "" {
			return usagef("--gateway is required")
		}
		cc, err := o.cloudConfig(nil)
		if err != nil {
			return err
		}
		c, err := cloud.NewVPCClient(cc)
		if err != nil {
			return usagef("%v", err)
		}
		inv, err := cloud.ListGateway(c, cc.Region, o.gateway)
		if err != nil {
			return fmt.Errorf("vpn %s: %w", o.gateway, err)
		}
		return cloud.PrintGateway(stdout, inv)
	},
}
