package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ppter/ppter/functions/internal/statuspage"
	"github.com/ppter/ppter/shared/wire"
)

var statusCmd = command{
	name: "status", args: "--url URL [--token-file FILE] [--events N] [--json]", what: "the function's status endpoint: the fleet, its targets and recent events, as tables",
	flags: []string{"url", "token-file", "events", "json"},
	run:   status,
}

func status(ctx context.Context, o *opts, stdout, _ io.Writer) error {
	if o.url == "" {
		return usagef("--url (or PPTER_URL) is required")
	}
	token := o.token
	if o.tokenFile != "" && (o.given["token-file"] || token == "") {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return usagef("read token file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return usagef("no admin token: set PPTER_ADMIN_TOKEN or --token-file (PPTER_ADMIN_TOKEN_FILE)")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s?events=%d", strings.TrimRight(o.url, "/"), wire.PathStatus, o.events), nil)
	if err != nil {
		return usagef("bad --url: %v", err)
	}
	req.Header = http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e wire.ErrorResponse
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("status: %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("status: HTTP %d", resp.StatusCode)
	}
	if o.json {
		_, err := stdout.Write(body)
		return err
	}
	var f statuspage.Fleet
	if err := json.Unmarshal(body, &f); err != nil {
		return fmt.Errorf("status: unreadable answer: %w", err)
	}
	return printFleet(stdout, f)
}

func printFleet(w io.Writer, f statuspage.Fleet) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return f.GeneratedAt.Sub(t).Round(time.Second).String() + " ago"
	}
	addr := func(a netip.Addr) string { return cmp.Or(wire.AddrString(a), "-") }
	row := func(name string, v4, v6 netip.Addr, seen, changed time.Time, stale bool) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", name, addr(v4), addr(v6), ago(seen), ago(changed), stale)
	}
	fmt.Fprintln(tw, "SITE\tIPV4\tIPV6\tSEEN\tCHANGED\tSTALE")
	for _, s := range f.Sites {
		row(string(s.Name), s.IPv4, s.IPv6, s.SeenAt, s.ChangedAt, s.Stale)
		for _, l := range s.Lines { // a site with lines: a row per line, as SITE/LINE (the pinger's mapping spelling)
			row(string(s.Name)+"/"+l.Name, l.IPv4, l.IPv6, l.SeenAt, l.ChangedAt, l.Stale)
		}
	}
	if len(f.Targets) > 0 {
		fmt.Fprintln(tw, "\nSITE\tKIND\tTARGET\tSTATE\tIP\tERROR")
		for _, t := range f.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Site, t.Kind, t.Name, t.State, addr(t.IP), t.Error)
		}
	}
	if len(f.Events) > 0 {
		lines := slices.ContainsFunc(f.Events, func(e statuspage.Event) bool { return e.Line != "" })
		lineCol := func(s string) string { return map[bool]string{true: s + "\t"}[lines] }
		fmt.Fprintln(tw, "\nWHEN\tSITE\t"+lineCol("LINE")+"EVENT\tDETAIL")
		for _, e := range f.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s\n", e.At.Local().Format(time.DateTime), e.Site,
				lineCol(cmp.Or(string(e.Line), "-")), e.Kind, e.Detail)
		}
	}
	return tw.Flush()
}
