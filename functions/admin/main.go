// Command ppter-admin is the operator's tool beside the function. It reads the same config
// and credentials as the function:
//
//	ppter-admin keygen                         a new site secret
//	ppter-admin check-config                   validate the function's config file
//	ppter-admin status --url URL               the fleet, its targets and recent events
//	ppter-admin dns-records --zone example.com a zone's records, to fill in sites.*.dns
//	ppter-admin vpn --gateway vpn-bp1…         a gateway's connections (kind, tunnels) and customer gateways
//	ppter-admin vpn-op show|resume …           a saved re-point: inspect it (PSKs redacted), finish it
//
// It replaces the original tool's getDnsInfo.py.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppter/ppter/functions/internal/app"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/statuspage"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/wire"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // network, API or function error
	exitUsage   = 2 // bad flags, config or missing credentials
)

var (
	errUsage = errors.New("usage")
	version  = "dev"
)

// usageError marks errors that are the user's input.
type usageError struct{ msg string }

func (e usageError) Error() string   { return e.msg }
func (e usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, config.ErrInvalid):
		fmt.Fprintln(stderr, "ppter-admin:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "ppter-admin:", err)
		return exitFailure
	}
}

const usage = `ppter-admin — the operator's tool for ppter

Usage:
  ppter-admin keygen [--bytes N]
  ppter-admin check-config [--config FILE]
  ppter-admin status --url URL [--token-file FILE] [--events N] [--json]
  ppter-admin dns-records --zone ZONE [--config FILE] [--region R]
  ppter-admin vpn --gateway ID [--config FILE] [--region R]
  ppter-admin vpn-op show --gateway ID --connection NAME [--config FILE]
  ppter-admin vpn-op resume --gateway ID --connection NAME [--config FILE] [--timeout D]
  ppter-admin version

Environment:
  PPTER_CONFIG          the function's config file (--config)
  PPTER_URL             the function's base URL (--url)
  PPTER_ADMIN_TOKEN     the admin token for status (or --token-file)
  PPTER_STATE_KEY, PPTER_STATE_KEY_FILE
                        the function's state key, for vpn-op (it decrypts the saved PSKs)
  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN
                        credentials for dns-records, vpn and vpn-op resume
  FC_REGION             the region when neither --region nor aliyun.region is set

Exit codes:
  0  done
  1  failure: network, cloud API or function error
  2  usage or config error, missing credentials
`

type env = func(string) (string, bool)

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return usagef("no command given")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	fs := pflag.NewFlagSet("ppter-admin "+cmd, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nFlags of ", cmd, ":\n", fs.FlagUsages()) }
	lookup := func(k string) string { v, _ := getenv(k); return v }
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "ppter-admin", version)
		return nil
	case "keygen":
		n := fs.Int("bytes", 24, "random `bytes` in the secret (printed as hex)")
		if err := parse(fs, rest); err != nil {
			return err
		}
		if *n < 16 || *n > 64 {
			return usagef("--bytes must be 16 to 64")
		}
		b := make([]byte, *n)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		fmt.Fprintln(stdout, hex.EncodeToString(b))
		return nil
	case "check-config":
		path := fs.String("config", lookup("PPTER_CONFIG"), "the function's config `file` (env PPTER_CONFIG)")
		if err := parse(fs, rest); err != nil {
			return err
		}
		if *path == "" {
			return usagef("--config (or PPTER_CONFIG) is required")
		}
		cfg, err := loadConfig(*path, getenv)
		if err != nil {
			return err
		}
		targets := 0
		for _, s := range cfg.Sites {
			targets += len(s.DNS) + len(s.VPN)
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
		}
		fmt.Fprintf(stdout, "%s: ok — %d sites, %d cloud targets, dry_run=%v\n", *path, len(cfg.Sites), targets, cfg.Aliyun.DryRun)
		return nil
	case "status":
		return status(ctx, fs, rest, lookup, stdout)
	case "dns-records", "vpn":
		return listing(cmd, fs, rest, getenv, stdout)
	case "vpn-op":
		return vpnOp(ctx, fs, rest, getenv, stdout)
	default:
		return usagef("unknown command %q (see ppter-admin --help)", cmd)
	}
}

func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func loadConfig(path string, getenv env) (*config.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("read config: %v", err)
	}
	return config.Parse(raw, getenv, os.ReadFile)
}

func status(ctx context.Context, fs *pflag.FlagSet, args []string, lookup func(string) string, stdout io.Writer) error {
	url := fs.String("url", lookup("PPTER_URL"), "the function's base `URL` (env PPTER_URL)")
	tokenFile := fs.String("token-file", "", "read the admin token from `file` (else env PPTER_ADMIN_TOKEN)")
	events := fs.Int("events", 20, "how many recent `events` to show")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		return usagef("--url (or PPTER_URL) is required")
	}
	token := lookup("PPTER_ADMIN_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usagef("read token file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return usagef("no admin token: set PPTER_ADMIN_TOKEN or --token-file")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s?events=%d", strings.TrimRight(*url, "/"), wire.PathStatus, *events), nil)
	if err != nil {
		return usagef("bad --url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
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
	if *asJSON {
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
	addr := func(s fmt.Stringer, ok bool) string {
		if !ok {
			return "-"
		}
		return s.String()
	}
	fmt.Fprintln(tw, "SITE\tIPV4\tIPV6\tSEEN\tCHANGED\tSTALE")
	for _, s := range f.Sites {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", s.Name, addr(s.IPv4, s.IPv4.IsValid()), addr(s.IPv6, s.IPv6.IsValid()), ago(s.SeenAt), ago(s.ChangedAt), s.Stale)
	}
	if len(f.Targets) > 0 {
		fmt.Fprintln(tw, "\nSITE\tKIND\tTARGET\tSTATE\tIP\tERROR")
		for _, t := range f.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Site, t.Kind, t.Name, t.State, addr(t.IP, t.IP.IsValid()), t.Error)
		}
	}
	if len(f.Events) > 0 {
		fmt.Fprintln(tw, "\nWHEN\tSITE\tEVENT\tDETAIL")
		for _, e := range f.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Site, e.Kind, e.Detail)
		}
	}
	return tw.Flush()
}

// listing prints a zone's records or a gateway's connections, with the function's cloud
// settings (config optional) and the standard credential variables.
func listing(cmd string, fs *pflag.FlagSet, args []string, getenv env, stdout io.Writer) error {
	lookup := func(k string) string { v, _ := getenv(k); return v }
	cfgPath := fs.String("config", lookup("PPTER_CONFIG"), "take aliyun endpoints and region from this config `file` (env PPTER_CONFIG; optional)")
	region := fs.String("region", "", "the `region` (default: aliyun.region, else FC_REGION, else cn-hangzhou)")
	zone := fs.String("zone", "", "the DNS `zone` to list (dns-records)")
	gateway := fs.String("gateway", "", "the VPN gateway `ID` to list (vpn)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cc := cloud.ClientConfig{Region: lookup("FC_REGION")}
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath, getenv)
		if err != nil {
			return err
		}
		cc = cloud.ClientConfig{Region: cfg.Aliyun.Region, DNSEndpoint: cfg.Aliyun.DNSEndpoint, VPCEndpoint: cfg.Aliyun.VPCEndpoint, Protocol: cfg.Aliyun.Protocol}
	}
	if *region != "" {
		cc.Region = *region
	}
	if err := withCredentials(&cc, lookup); err != nil {
		return err
	}
	if cmd == "dns-records" {
		if *zone == "" {
			return usagef("--zone is required")
		}
		c, err := cloud.NewDNSClient(cc)
		if err != nil {
			return usagef("%v", err)
		}
		recs, err := cloud.ListZone(c, *zone)
		if err != nil {
			return fmt.Errorf("dns-records %s: %w", *zone, err)
		}
		return cloud.PrintZone(stdout, recs)
	}
	if *gateway == "" {
		return usagef("--gateway is required")
	}
	c, err := cloud.NewVPCClient(cc)
	if err != nil {
		return usagef("%v", err)
	}
	inv, err := cloud.ListGateway(c, cc.Region, *gateway)
	if err != nil {
		return fmt.Errorf("vpn %s: %w", *gateway, err)
	}
	return cloud.PrintGateway(stdout, inv)
}

// withCredentials fills cc's region default and the standard credential variables.
func withCredentials(cc *cloud.ClientConfig, lookup func(string) string) error {
	if cc.Region == "" {
		cc.Region = "cn-hangzhou"
	}
	cc.Credentials = cloud.Credentials{AccessKeyID: lookup("ALIBABA_CLOUD_ACCESS_KEY_ID"), AccessKeySecret: lookup("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), SecurityToken: lookup("ALIBABA_CLOUD_SECURITY_TOKEN")}
	if cc.Credentials.AccessKeyID == "" || cc.Credentials.AccessKeySecret == "" {
		return usagef("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	}
	return nil
}

// vpnOp shows or resumes the re-point saved for one connection, in the function's Redis
// (its config's redis.url and prefix, and its state key).
func vpnOp(ctx context.Context, fs *pflag.FlagSet, args []string, getenv env, stdout io.Writer) error {
	lookup := func(k string) string { v, _ := getenv(k); return v }
	if len(args) == 0 || (args[0] != "show" && args[0] != "resume") {
		return usagef("vpn-op needs show or resume")
	}
	sub := args[0]
	cfgPath := fs.String("config", lookup("PPTER_CONFIG"), "the function's config `file` (env PPTER_CONFIG)")
	gateway := fs.String("gateway", "", "the VPN gateway `ID`")
	conn := fs.String("connection", "", "the connection's `name`")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up a resume after this `duration`")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *cfgPath == "" || *gateway == "" || *conn == "" {
		return usagef("vpn-op %s needs --config (or PPTER_CONFIG), --gateway and --connection", sub)
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(cfg.Redis.URL, "redis") {
		return usagef("vpn-op reads the function's Redis; redis.url is %s", strings.SplitN(cfg.Redis.URL, ":", 2)[0]+"://…")
	}
	st, err := store.NewRedis(ctx, cfg.Redis.URL, app.StoreOptions(cfg))
	if err != nil {
		return usagef("%v", err)
	}
	defer st.Client().Close()
	r := cloud.New(cloud.Reconciler{State: cloud.NewRedis(st.Client(), cfg.Redis.Prefix, app.StateOptions(cfg)), Region: cfg.Aliyun.Region})
	target := cloud.VPNConn{Gateway: *gateway, Connection: *conn}
	var op cloud.VPNOp
	if sub == "show" {
		op, err = r.SavedOp(ctx, target)
	} else {
		cc := cloud.ClientConfig{Region: cfg.Aliyun.Region, DNSEndpoint: cfg.Aliyun.DNSEndpoint, VPCEndpoint: cfg.Aliyun.VPCEndpoint, Protocol: cfg.Aliyun.Protocol}
		if err := withCredentials(&cc, lookup); err != nil {
			return err
		}
		r.Region = cc.Region
		if r.VPC, err = cloud.NewVPCClient(cc); err != nil {
			return usagef("%v", err)
		}
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		op, err = r.ResumeSaved(rctx, target)
	}
	if errors.Is(err, cloud.ErrNoSavedOp) {
		fmt.Fprintf(stdout, "no re-point saved for %s on %s\n", *conn, *gateway)
		return nil
	}
	if err != nil && op.ID == "" {
		return fmt.Errorf("vpn-op %s: %s", sub, cloud.LogError(err)) // a request URL's query holds PSKs
	}
	b, jerr := json.MarshalIndent(op, "", "  ")
	if jerr != nil {
		return jerr
	}
	fmt.Fprintf(stdout, "%s\n", b)
	if err != nil {
		return fmt.Errorf("vpn-op %s: %s", sub, cloud.LogError(err))
	}
	if sub == "resume" {
		fmt.Fprintf(stdout, "re-point of %s finished: %s\n", *conn, op.NewIP)
	}
	return nil
}
