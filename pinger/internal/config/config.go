// Package config reads the pinger's configuration in one place: command-line flags, their
// PPTER_* environment variables (an explicit flag beats the environment; a bad value in
// either is an error), the secret (PPTER_KEY or a key file, never a flag) and the optional
// YAML file (driver settings, expect_own_address and the lines). Everything else receives
// the typed Config.
package config

import (
	"bytes"
	"cmp"
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
	// Lines are the office's lines this pinger reports, one ping per line (and family)
	// per cycle: the file's lines:, or else one from --line, --bind-address and
	// --interface (all may be empty: the site's default line, by the default route).
	Lines []Line

	Help    bool
	Version bool

	// Drivers holds the driver sections of the YAML file, secrets resolved.
	Drivers FileConfig
}

// FileConfig is the YAML file: one optional section per driver, expect_own_address and
// the line keys. Unknown keys are errors.
type FileConfig struct {
	// ExpectOwnAddress is --expect-own-address's value when neither the flag nor
	// PPTER_EXPECT_OWN_ADDRESS is given.
	ExpectOwnAddress bool `yaml:"expect_own_address"`
	// Line, BindAddress and Interface are --line's, --bind-address's and --interface's
	// values when neither the flag nor its env var is given.
	Line        site.Line  `yaml:"line"`
	BindAddress netip.Addr `yaml:"bind_address"`
	Interface   string     `yaml:"interface"`
	// Lines, when set, lists every line this pinger reports; the keys above (and their
	// flags and env vars) are then refused.
	Lines []Line `yaml:"lines"`

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

// Line is one of the office's lines as the pinger reports it: its name (empty: the
// site's default line) and how its pings leave (source address, interface; empty: by the
// default route).
type Line struct {
	Name        site.Line  `yaml:"name"`
	BindAddress netip.Addr `yaml:"bind_address"`
	Interface   string     `yaml:"interface"`
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
	"line":                "PPTER_LINE",
	"bind-address":        "PPTER_BIND_ADDRESS",
	"interface":           "PPTER_INTERFACE",
}

// SecretEnv lists the variables that carry secrets; they are removed from the environment
// of commands the pinger runs.
var SecretEnv = []string{EnvKey, EnvRouterPassword, EnvRouterAPIKey, EnvRouterAPISecret, EnvRouterToken}

// raw holds flag values before validation.
type raw struct {
	url, site, keyFile, exec, state, file string
	line, bindAddress, iface              string
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
	fs.StringVar(&r.file, "config", "", "YAML `file` with driver settings, expect_own_address and the line keys (line, bind_address and interface, or lines: for several); unknown keys are errors")
	fs.DurationVar(&c.Watch, "watch", 0, "keep running, one cycle every `duration` (e.g. 1m), and one at once when the host's addresses or default route change (Linux); default: one cycle")
	fs.DurationVar(&c.CycleTimeout, "cycle-timeout", c.CycleTimeout, "give up a cycle (ping and router changes) after `duration`; what was applied is kept")
	fs.BoolVar(&c.DryRun, "dry-run", false, "print what would change, change nothing")
	fs.Var(&c.IPFamily, "ip-family", "ping over IPv4, IPv6 or both")
	fs.Var(&c.LogFormat, "log-format", "log lines as text or json")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", false, "allow an http:// --url to a host other than loopback (a lab: anyone on the path can forge the answers)")
	fs.BoolVar(&c.AllowPrivatePeers, "allow-private-peers", false, "accept private (RFC 1918, fc00::/7), CGNAT and other special-purpose peer addresses (a lab)")
	fs.IntVar(&c.MaxPeers, "max-peers", c.MaxPeers, "apply at most `n` peer changes per cycle; the rest wait for the next")
	fs.BoolVar(&c.ExpectOwnAddress, "expect-own-address", false, "warn when the address the function saw is not one of this host's (a pinger on the router: a transparent proxy or carrier NAT); config file key expect_own_address")
	fs.StringVar(&r.line, "line", "", "`name` of the site's line this ping reports (a two-line office; default: the site's default line); config file key line, or lines: for several")
	fs.StringVar(&r.bindAddress, "bind-address", "", "send the ping from this `address` (the line's); config file key bind_address")
	fs.StringVar(&r.iface, "interface", "", "send the ping, and its DNS lookup, by the interface `iface` (Linux SO_BINDTODEVICE); config file key interface")
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
  1  transient failure: network, function 5xx, driver failed, another run holds the lock;
     with several lines, a line whose ping failed transiently (the others are still applied)
  2  usage or configuration error, and a line the function does not declare (unknown_line)
  3  rejected by the function: 401 bad credentials or clock, 409 replayed, 429 too many failures
  When lines fail differently, the code is the gravest: 3 if any line was rejected, else 2
  if any was refused as a configuration error (unknown_line, another 4xx), else 1.
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
	if c.Lines, err = r.lines(); err != nil {
		return err
	}
	c.Exec = c.Drivers.Exec.Command
	if r.exec != "" {
		c.Exec = r.exec
	}
	return resolveSecrets(c, env)
}

// lines returns the lines to ping: the file's lines:, or the one of --line,
// --bind-address and --interface (each flag beats its env var, which beats the file's key).
// An IPv4-mapped bind address (::ffff:192.0.2.1) comes out as the IPv4 address it maps: the
// socket is bound, and the answer compared, in the family the address belongs to.
func (r *raw) lines() ([]Line, error) {
	fc := &r.cfg.Drivers
	if len(fc.Lines) > 0 {
		if r.line != "" || r.bindAddress != "" || r.iface != "" || fc.Line != "" || fc.BindAddress.IsValid() || fc.Interface != "" {
			return nil, errors.New("--config lines: lists every line: --line, --bind-address and --interface (PPTER_LINE, PPTER_BIND_ADDRESS, PPTER_INTERFACE, the file's line, bind_address and interface) must not be given with it")
		}
		seen := map[site.Line]bool{}
		for i, l := range fc.Lines {
			if l.Name == "" {
				return nil, fmt.Errorf("--config lines[%d]: name is required", i)
			}
			if seen[l.Name] {
				return nil, fmt.Errorf("--config lines: line %s is listed twice", l.Name)
			}
			seen[l.Name] = true
			l.BindAddress = l.BindAddress.Unmap()
			if err := r.checkLine(l); err != nil {
				return nil, fmt.Errorf("--config lines: line %s: %w", l.Name, err)
			}
			fc.Lines[i] = l
		}
		return fc.Lines, nil
	}
	l := Line{Name: fc.Line, BindAddress: fc.BindAddress, Interface: cmp.Or(r.iface, fc.Interface)}
	var err error
	if r.line != "" {
		if l.Name, err = site.ParseLine(r.line); err != nil {
			return nil, fmt.Errorf("--line: %w", err)
		}
	}
	if r.bindAddress != "" {
		if l.BindAddress, err = netip.ParseAddr(r.bindAddress); err != nil {
			return nil, fmt.Errorf("--bind-address: %w", err)
		}
	}
	l.BindAddress = l.BindAddress.Unmap()
	if err := r.checkLine(l); err != nil {
		return nil, err
	}
	return []Line{l}, nil
}

// checkLine refuses a source address that cannot be one (unspecified, multicast) or is not
// of the one family pinged, and an interface name Linux cannot have. The address is
// unmapped already (see lines).
func (r *raw) checkLine(l Line) error {
	if a := l.BindAddress; a.IsValid() {
		fams := r.cfg.IPFamily.Families()
		switch {
		case a.IsUnspecified() || a.IsMulticast():
			return fmt.Errorf("bind address %s is not a unicast address", a)
		case len(fams) > 1:
			only := Family6
			if a.Is4() {
				only = Family4
			}
			return fmt.Errorf("bind address %s is of one family, and --ip-family both pings over both: use --ip-family %s, or an interface", a, only)
		case !fams[0].Of(a):
			return fmt.Errorf("bind address %s is not an %s address (--ip-family %s)", a, fams[0], r.cfg.IPFamily)
		}
	}
	if n := l.Interface; len(n) > maxInterfaceName || strings.ContainsAny(n, "/ \t\n") {
		return fmt.Errorf("interface %q: not an interface name (at most %d characters, no '/' or space)", n, maxInterfaceName)
	}
	return nil
}

// maxInterfaceName is the longest Linux interface name (IFNAMSIZ less its NUL).
const maxInterfaceName = 15

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
