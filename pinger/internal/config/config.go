// Package config reads the pinger's configuration in one place: command-line flags, their
// PPTER_* environment variables (an explicit flag beats the environment; a bad value in
// either is an error), the secret (PPTER_KEY or a key file, never a flag) and the optional
// YAML file with driver settings. Everything else receives the typed Config.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/ppter/ppter/pinger/internal/agent"
	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/shared/site"
)

// ErrUsage wraps every configuration error (exit code 2).
var ErrUsage = errors.New("usage error")

// ErrInsecureURL means --url is http:// to a host other than loopback without --insecure-http.
var ErrInsecureURL = errors.New("insecure function URL")

// MinWatch is the shortest --watch interval accepted.
const MinWatch = 5 * time.Second

// MinCycleTimeout is the shortest --cycle-timeout accepted.
const MinCycleTimeout = 10 * time.Second

// Config is the pinger's whole configuration.
type Config struct {
	URL       *url.URL
	Site      site.Name
	Secret    []byte // never logged
	Driver    DriverName
	Exec      string
	StatePath string
	LockPath  string
	File      string // the YAML file, if any
	Watch     time.Duration
	DryRun    bool
	IPFamily  IPFamily
	LogFormat LogFormat
	// InsecureHTTP allows an http:// URL to a host other than loopback.
	InsecureHTTP bool
	// AllowPrivatePeers accepts private and CGNAT peer addresses (labs).
	AllowPrivatePeers bool
	// MaxPeers caps the peer changes applied in one cycle.
	MaxPeers int
	// CycleTimeout bounds one whole cycle.
	CycleTimeout time.Duration
	// ExpectOwnAddress compares each ping's address with the host's own (a pinger on the
	// router) and warns when it is not one of them.
	ExpectOwnAddress bool

	Help    bool
	Version bool

	// Drivers holds the driver sections of the YAML file, secrets resolved.
	Drivers FileConfig
}

// FileConfig is the YAML file: one optional section per driver, and expect_own_address.
// Unknown keys are errors.
type FileConfig struct {
	// ExpectOwnAddress is --expect-own-address's value when neither the flag nor
	// PPTER_EXPECT_OWN_ADDRESS is given.
	ExpectOwnAddress bool `yaml:"expect_own_address"`

	Exec       ExecFile                `yaml:"exec"`
	HTTP       router.HTTPConfig       `yaml:"http"`
	RouterOS   router.RouterOSConfig   `yaml:"routeros"`
	StrongSwan router.StrongSwanConfig `yaml:"strongswan"`
	WireGuard  router.WireGuardConfig  `yaml:"wireguard"`
	OpenWrt    router.OpenWrtConfig    `yaml:"openwrt"`
	OPNsense   router.OPNsenseConfig   `yaml:"opnsense"`
	VyOS       router.VyOSConfig       `yaml:"vyos"`
	FortiGate  router.FortiGateConfig  `yaml:"fortigate"`
}

// ExecFile is the exec section of the YAML file. --exec / PPTER_EXEC override Command.
type ExecFile struct {
	Command string        `yaml:"command"`
	Self    bool          `yaml:"self"`
	Timeout time.Duration `yaml:"timeout"`
	// Peers, when set, limits the hook to these peers (an allow-list).
	Peers []site.Peer `yaml:"peers"`
}

// Environment variables read besides the flags' own.
const (
	EnvKey            = "PPTER_KEY"
	EnvRouterPassword = "PPTER_ROUTER_PASSWORD"
)

// flagEnv maps each flag to its environment variable.
var flagEnv = map[string]string{
	"url":                 "PPTER_URL",
	"site":                "PPTER_SITE",
	"key-file":            "PPTER_KEY_FILE",
	"driver":              "PPTER_DRIVER",
	"exec":                "PPTER_EXEC",
	"state":               "PPTER_STATE",
	"config":              "PPTER_PINGER_CONFIG",
	"watch":               "PPTER_WATCH",
	"dry-run":             "PPTER_DRY_RUN",
	"ip-family":           "PPTER_IP_FAMILY",
	"log-format":          "PPTER_LOG_FORMAT",
	"insecure-http":       "PPTER_INSECURE_HTTP",
	"allow-private-peers": "PPTER_ALLOW_PRIVATE_PEERS",
	"max-peers":           "PPTER_MAX_PEERS",
	"cycle-timeout":       "PPTER_CYCLE_TIMEOUT",
	"expect-own-address":  "PPTER_EXPECT_OWN_ADDRESS",
}

// SecretEnv lists the variables that carry secrets; they are removed from the environment
// of commands the pinger runs.
var SecretEnv = []string{EnvKey, EnvRouterPassword, EnvRouterAPIKey, EnvRouterAPISecret, EnvRouterToken}

// raw holds flag values before validation.
type raw struct {
	url, site, keyFile, exec, state, file string
	// expectOwnSet: --expect-own-address came from the flag or its env var, which beat
	// the file's expect_own_address.
	expectOwnSet bool
	cfg          Config
}

func defaults(env map[string]string) Config {
	return Config{
		Driver:       DriverExec,
		IPFamily:     Family4,
		LogFormat:    LogText,
		StatePath:    defaultStatePath(env),
		MaxPeers:     agent.DefaultMaxPeers,
		CycleTimeout: agent.DefaultCycleTimeout,
	}
}

func defaultStatePath(env map[string]string) string {
	if runtime.GOOS == "windows" {
		dir := env["ProgramData"]
		if dir == "" {
			dir = `C:\ProgramData`
		}
		return filepath.Join(dir, "ppter", "pinger-state.json")
	}
	return "/var/lib/ppter/pinger-state.json"
}

func newFlagSet(r *raw) *pflag.FlagSet {
	fs := pflag.NewFlagSet("ppter-pinger", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	c := &r.cfg
	fs.StringVar(&r.url, "url", "", "base `URL` of the ppter function's HTTP trigger")
	fs.StringVar(&r.site, "site", "", "this office's site `name`")
	fs.StringVar(&r.keyFile, "key-file", "", "read the site's secret from `file` (or set "+EnvKey+"; never a flag)")
	fs.Var(&c.Driver, "driver", "router driver: exec, http, routeros, strongswan, wireguard, openwrt, opnsense, vyos or fortigate")
	fs.StringVar(&r.exec, "exec", "", "exec driver: `command` run by /bin/sh -c for each change")
	fs.StringVar(&r.state, "state", c.StatePath, "state `file` (last applied addresses); its lock is file.lock")
	fs.StringVar(&r.file, "config", "", "YAML `file` with driver settings")
	fs.DurationVar(&c.Watch, "watch", 0, "keep running, one cycle every `duration` (e.g. 1m), and one at once when the host's addresses or default route change (Linux); default: one cycle")
	fs.DurationVar(&c.CycleTimeout, "cycle-timeout", c.CycleTimeout, "give up a cycle (ping and router changes) after `duration`; what was applied is kept")
	fs.BoolVar(&c.DryRun, "dry-run", false, "print what would change, change nothing")
	fs.Var(&c.IPFamily, "ip-family", "ping over IPv4, IPv6 or both")
	fs.Var(&c.LogFormat, "log-format", "log lines as text or json")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", false, "allow an http:// --url to a host other than loopback (a lab: anyone on the path can forge the answers)")
	fs.BoolVar(&c.AllowPrivatePeers, "allow-private-peers", false, "accept private (RFC 1918, fc00::/7), CGNAT and other special-purpose peer addresses (a lab)")
	fs.IntVar(&c.MaxPeers, "max-peers", c.MaxPeers, "apply at most `n` peer changes per cycle; the rest wait for the next")
	fs.BoolVar(&c.ExpectOwnAddress, "expect-own-address", false, "warn when the address the function saw is not one of this host's (a pinger on the router: a transparent proxy or carrier NAT); config file key expect_own_address")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	fs.BoolVarP(&c.Help, "help", "h", false, "show this help")
	for name, env := range flagEnv {
		f := fs.Lookup(name)
		f.Usage += " (env " + env + ")"
	}
	return fs
}

// Usage returns the --help text.
func Usage() string {
	r := raw{cfg: defaults(nil)}
	fs := newFlagSet(&r)
	var b bytes.Buffer
	b.WriteString(`Usage: ppter-pinger --url URL --site NAME [flags]

Reports this office's public address to the ppter function, learns the peers' addresses
and reconfigures the local router through a driver when one changed.
The site's secret comes from the PPTER_KEY environment variable or --key-file.

Flags:
`)
	b.WriteString(fs.FlagUsages())
	b.WriteString(`
Exit codes:
  0  done (changed or not)
  1  transient failure: network, function 5xx, driver failed, another run holds the lock
  2  usage or configuration error
  3  rejected by the function: 401 bad credentials or clock, 409 replayed, 429 too many failures
`)
	return b.String()
}

// Parse reads args (without the program name), the environment and the files they point
// to. Errors wrap ErrUsage. With Help or Version set, nothing else is validated.
func Parse(args []string, environ []string) (*Config, error) {
	env := envMap(environ)
	r := raw{cfg: defaults(env)}
	fs := newFlagSet(&r)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	c := &r.cfg
	if c.Help || c.Version {
		return c, nil
	}
	keyFileFlag := fs.Changed("key-file")
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		name, ok := flagEnv[f.Name]
		if !ok || f.Changed {
			return
		}
		v, ok := env[name]
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", name, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	r.expectOwnSet = fs.Changed("expect-own-address")
	if err := r.validate(env, keyFileFlag); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return c, nil
}

func (r *raw) validate(env map[string]string, keyFileFlag bool) error {
	c := &r.cfg
	var err error
	if c.URL, err = parseURL(r.url, c.InsecureHTTP); err != nil {
		return err
	}
	if r.site == "" {
		return errors.New("--site (PPTER_SITE) is required")
	}
	if c.Site, err = site.Parse(r.site); err != nil {
		return fmt.Errorf("--site: %w", err)
	}
	if c.Secret, err = r.secret(env, keyFileFlag); err != nil {
		return err
	}
	if r.state == "" {
		return errors.New("--state must not be empty")
	}
	c.StatePath, c.LockPath = r.state, r.state+".lock"
	if c.Watch < 0 || (c.Watch > 0 && c.Watch < MinWatch) {
		return fmt.Errorf("--watch must be at least %s", MinWatch)
	}
	if c.CycleTimeout < MinCycleTimeout {
		return fmt.Errorf("--cycle-timeout must be at least %s", MinCycleTimeout)
	}
	if c.MaxPeers < 1 {
		return errors.New("--max-peers must be at least 1")
	}
	c.File = r.file
	if c.File != "" {
		if err := readFile(c.File, &c.Drivers); err != nil {
			return err
		}
	}
	if !r.expectOwnSet {
		c.ExpectOwnAddress = c.Drivers.ExpectOwnAddress
	}
	c.Exec = c.Drivers.Exec.Command
	if r.exec != "" {
		c.Exec = r.exec
	}
	return resolveSecrets(c, env)
}

// parseURL checks --url: http(s) with a host, no credentials, query or fragment, and
// plain http only to loopback unless insecure.
func parseURL(raw string, insecure bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("--url (PPTER_URL) is required")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, errors.New("--url must be an http:// or https:// URL with a host")
	case u.User != nil:
		return nil, errors.New("--url must not contain credentials (use PPTER_KEY or --key-file)")
	case u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("%w: --url %s is plain http:// to a host other than loopback: anyone on the path could forge the function's answers; use https:// (or --insecure-http, PPTER_INSECURE_HTTP=true, in a lab)", ErrInsecureURL, u.Host)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("--url must not have a query or fragment")
	}
	return u, nil
}

// secret reads the site's secret: an explicit --key-file beats PPTER_KEY, which beats
// PPTER_KEY_FILE.
func (r *raw) secret(env map[string]string, keyFileFlag bool) ([]byte, error) {
	switch {
	case keyFileFlag:
		return readSecret(r.keyFile)
	case env[EnvKey] != "":
		return []byte(strings.TrimSpace(env[EnvKey])), nil
	case r.keyFile != "":
		return readSecret(r.keyFile)
	}
	return nil, errors.New("no secret: set " + EnvKey + " or --key-file (PPTER_KEY_FILE)")
}

// isLoopback reports whether host (a URL's host name, without port) is "localhost" or a
// loopback address: the only places plain HTTP may go without --insecure-http (tests,
// make run).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func readSecret(path string) ([]byte, error) {
	b, err := readPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key-file %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("--key-file %s: empty", path)
	}
	return b, nil
}

// ErrFileTooOpen means a file holding a secret can be read (or written) by others than
// its owner; it is refused, as ssh refuses such a private key.
var ErrFileTooOpen = errors.New("permissions are too open")

// readPrivateFile reads a file holding a secret, refusing one that group or others may
// access (not checked on Windows, whose ACLs have no such bits). The error starts with
// the path, for the caller to prefix with the flag or key that named it.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err // the path comes first anyway
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w: mode %04o gives group or others access, the secret must be readable by its owner only: run chmod 600 %s", path, ErrFileTooOpen, perm, path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

func readFile(path string, fc *FileConfig) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(fc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// resolveSecrets fills the router password of the chosen driver from its password_file
// or PPTER_ROUTER_PASSWORD.
func resolveSecrets(c *Config, env map[string]string) error {
	var file string
	var dst *string
	switch c.Driver {
	case DriverHTTP:
		file, dst = c.Drivers.HTTP.PasswordFile, &c.Drivers.HTTP.Password
	case DriverRouterOS:
		file, dst = c.Drivers.RouterOS.PasswordFile, &c.Drivers.RouterOS.Password
	default:
		return resolveAPISecrets(c, env)
	}
	switch {
	case file != "":
		b, err := readPrivateFile(file)
		if err != nil {
			return fmt.Errorf("%s password_file %w", c.Driver, err)
		}
		*dst = strings.TrimRight(string(b), "\r\n")
	case env[EnvRouterPassword] != "":
		*dst = env[EnvRouterPassword]
	}
	return nil
}

// NewDriver builds the configured driver. out receives the exec command's output;
// environ is the base environment of commands, from which secrets are removed.
func (c *Config) NewDriver(environ []string, out io.Writer) (router.Driver, error) {
	var d router.Driver
	var err error
	switch c.Driver {
	case DriverExec:
		d, err = router.NewExec(router.ExecConfig{
			Command: c.Exec, Self: c.Drivers.Exec.Self, Timeout: c.Drivers.Exec.Timeout, Peers: c.Drivers.Exec.Peers,
			Env: withoutSecrets(environ), Output: out,
		})
	case DriverHTTP:
		d, err = router.NewHTTP(c.Drivers.HTTP)
	case DriverRouterOS:
		d, err = router.NewRouterOS(c.Drivers.RouterOS)
	case DriverStrongSwan:
		d, err = router.NewStrongSwan(c.Drivers.StrongSwan)
	case DriverWireGuard:
		d, err = router.NewWireGuard(c.Drivers.WireGuard)
	case DriverOpenWrt, DriverOPNsense, DriverVyOS, DriverFortiGate:
		d, err = c.newAPIDriver()
	default:
		err = fmt.Errorf("unknown driver %q", c.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return d, nil
}

func withoutSecrets(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		secret := false
		for _, s := range SecretEnv {
			if k == s {
				secret = true
			}
		}
		if !secret {
			out = append(out, kv)
		}
	}
	return out
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
