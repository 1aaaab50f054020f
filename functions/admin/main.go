// Command ppter-admin is the operator's tool beside the function; it reads the same config
// and credentials. One file per command, each a command with its own flag set built from
// the one flag table here (every flag has an environment variable, which a flag given
// explicitly beats). The environment is read in one place, parse. It replaces the original
// tool's getDnsInfo.py.
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

	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
)

// Exit codes, listed in --help.
const (
	exitOK      = 0
	exitFailure = 1 // network, API or function error
	exitUsage   = 2 // bad flags, config or missing credentials
)

var version = "dev"

// usageError marks errors that are the user's input.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode maps an error of run to the exit code, printing it; this is the only place that does.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "ppter-admin:", err)
	if errors.As(err, new(usageError)) || errors.Is(err, config.ErrInvalid) {
		return exitUsage
	}
	return exitFailure
}

type env = func(string) (string, bool)

// opts is what a command reads from its flags and the environment, filled by parse.
type opts struct {
	bytes, events                                       int
	config, region, url, tokenFile, zone, gateway, conn string
	json                                                bool
	tunnel                                              tunnelRole
	timeout                                             time.Duration
	given                                               map[string]bool // flags given on the command line
	token                                               string          // PPTER_ADMIN_TOKEN
	creds                                               cloud.Credentials
	getenv                                              env // for the config's ${NAME}, FC_REGION and state key
}

// flags defines every flag of every command, each with its environment variable.
func (o *opts) flags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("ppter-admin", pflag.ContinueOnError)
	fs.IntVar(&o.bytes, "bytes", 24, "random `bytes` in the secret (printed as hex)")
	fs.StringVar(&o.config, "config", "", "the function's config `file`")
	fs.StringVar(&o.region, "region", "", "the `region` (default: the config's aliyun.region)")
	fs.StringVar(&o.url, "url", "", "the function's base `URL`")
	fs.StringVar(&o.tokenFile, "token-file", "", "read the admin token from `file` (beats PPTER_ADMIN_TOKEN, which beats PPTER_ADMIN_TOKEN_FILE)")
	fs.IntVar(&o.events, "events", 20, "how many recent `events` to show")
	fs.BoolVar(&o.json, "json", false, "print the raw JSON")
	fs.StringVar(&o.zone, "zone", "", "the DNS `zone` to list")
	fs.StringVar(&o.gateway, "gateway", "", "the VPN gateway `ID`")
	fs.StringVar(&o.conn, "connection", "", "the connection's `name`")
	fs.Var(&o.tunnel, "tunnel", "the `role` (master or slave) of a connection whose tunnels follow two lines")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this `duration`")
	for name, env := range flagEnv {
		fs.Lookup(name).Usage += " (env " + env + ")"
	}
	return fs
}

// flagEnv maps each flag to its environment variable.
var flagEnv = map[string]string{
	"bytes":      "PPTER_ADMIN_BYTES",
	"config":     "PPTER_CONFIG",
	"region":     "FC_REGION",
	"url":        "PPTER_URL",
	"token-file": "PPTER_ADMIN_TOKEN_FILE",
	"events":     "PPTER_ADMIN_EVENTS",
	"json":       "PPTER_ADMIN_JSON",
	"zone":       "PPTER_ADMIN_ZONE",
	"gateway":    "PPTER_ADMIN_GATEWAY",
	"connection": "PPTER_ADMIN_CONNECTION",
	"tunnel":     "PPTER_ADMIN_TUNNEL",
	"timeout":    "PPTER_ADMIN_TIMEOUT",
}

// command is one subcommand; its flag set holds the flags it names, and no others.
type command struct {
	name, args, what string
	flags            []string
	run              func(ctx context.Context, o *opts, stdout, stderr io.Writer) error
}

var versionCmd = command{name: "version", what: "print the version", run: func(_ context.Context, _ *opts, stdout, _ io.Writer) error {
	_, err := fmt.Fprintln(stdout, "ppter-admin", version)
	return err
}}

var commands = []*command{&keygenCmd, &checkConfigCmd, &statusCmd, &dnsRecordsCmd, &vpnCmd, &vpnOpShowCmd, &vpnOpResumeCmd, &versionCmd}

func (c *command) flagSet(o *opts) *pflag.FlagSet {
	all := o.flags()
	fs := pflag.NewFlagSet("ppter-admin "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	for _, name := range c.flags {
		fs.AddFlag(all.Lookup(name))
	}
	return fs
}

func (c *command) usage(o *opts) string {
	return strings.TrimSpace("ppter-admin "+c.name+" "+c.args) + "\n    " + c.what + "\n" + c.flagSet(o).FlagUsages()
}

func usage() string {
	var b strings.Builder
	b.WriteString("ppter-admin — the operator's tool for ppter\n\nUsage (ppter-admin COMMAND --help shows one command):\n\n")
	for _, c := range commands {
		b.WriteString(c.usage(&opts{}) + "\n")
	}
	b.WriteString(`Environment besides the flags' own:
  PPTER_ADMIN_TOKEN     the admin token for status (or --token-file)
  PPTER_STATE_KEY, PPTER_STATE_KEY_FILE
                        the function's state key, for vpn-op (it decrypts the saved PSKs)
  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN
                        credentials for dns-records, vpn and vpn-op resume
  and the variables the config file names (${NAME}, NAME_FILE)

Exit codes:
  0  done
  1  failure: network, cloud API or function error
  2  usage or config error, missing credentials
`)
	return b.String()
}

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage()) // a refused command prints nothing on stdout
		return usagef("no command given")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage())
		return nil
	}
	name, rest := args[0], args[1:]
	if name == "vpn-op" {
		if len(rest) == 0 || (rest[0] != "show" && rest[0] != "resume") {
			return usagef("vpn-op needs show or resume")
		}
		name, rest = name+" "+rest[0], rest[1:]
	}
	for _, c := range commands {
		if c.name == name {
			o, err := parse(c, rest, getenv)
			if errors.Is(err, pflag.ErrHelp) {
				fmt.Fprint(stdout, "Usage: ", c.usage(o))
			}
			if err != nil {
				return err
			}
			return c.run(ctx, o, stdout, stderr)
		}
	}
	return usagef("unknown command %q (see ppter-admin --help)", name)
}

// parse reads c's flags, then, for each flag not given, its environment variable; and the
// environment variables that are not flags. It is the one place that reads the environment
// (besides the config file's own variables, which config.Parse reads).
func parse(c *command, args []string, getenv env) (*opts, error) {
	o := &opts{getenv: getenv, given: map[string]bool{}}
	fs := c.flagSet(o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return o, err
		}
		takes := "no flags"
		if len(c.flags) > 0 {
			takes = "--" + strings.Join(c.flags, ", --")
		}
		return nil, usagef("%s: %v (%s takes %s)", c.name, err, c.name, takes)
	}
	if fs.NArg() > 0 {
		return nil, usagef("%s: unexpected argument %q", c.name, fs.Arg(0))
	}
	fs.Visit(func(f *pflag.Flag) { o.given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if v, _ := getenv(flagEnv[f.Name]); v != "" && !o.given[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", flagEnv[f.Name], err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, usagef("%v", err)
	}
	o.token, _ = getenv("PPTER_ADMIN_TOKEN")
	o.creds = config.EnvCredentials(getenv)
	return o, nil
}

// loadConfig reads --config; required says whether the command needs one.
func (o *opts) loadConfig(required bool) (*config.Config, error) {
	if o.config == "" {
		if required {
			return nil, usagef("--config (or PPTER_CONFIG) is required")
		}
		return nil, nil
	}
	raw, err := os.ReadFile(o.config)
	if err != nil {
		return nil, usagef("read config: %v", err)
	}
	return config.Parse(raw, o.getenv, os.ReadFile)
}

// cloudConfig is the cloud client settings of dns-records, vpn and vpn-op resume: the
// config's endpoints (cfg, or when nil the optional --config), the region as the function
// takes it (aliyun.region, else FC_REGION; --region beats both) and the credentials.
func (o *opts) cloudConfig(cfg *config.Config) (cloud.ClientConfig, error) {
	if cfg == nil {
		var err error
		if cfg, err = o.loadConfig(false); err != nil {
			return cloud.ClientConfig{}, err
		}
	}
	cc := cloud.ClientConfig{Region: o.region, Credentials: o.creds}
	if cfg != nil {
		cc.DNSEndpoint, cc.VPCEndpoint, cc.Protocol = cfg.Aliyun.DNSEndpoint, cfg.Aliyun.VPCEndpoint, cfg.Aliyun.Protocol
		if !o.given["region"] {
			cc.Region = cfg.Aliyun.Region // aliyun.region, else FC_REGION (config.Parse)
		}
	}
	if cc.Region == "" {
		return cc, usagef("no region: set FC_REGION (or --region, or aliyun.region in the config)")
	}
	if cc.Credentials.AccessKeyID == "" || cc.Credentials.AccessKeySecret == "" {
		return cc, usagef("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	}
	return cc, nil
}
