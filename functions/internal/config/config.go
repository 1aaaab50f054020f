// Package config reads and validates the function's YAML configuration: the one place where
// the file and the environment are read. Everything else receives a *Config.
//
// String values may reference environment variables as ${NAME}; when NAME is unset and
// NAME_FILE names a file, the file's content (without its trailing newline) is used, so
// secrets can come from mounted files. Unknown keys are an error.
package config

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/notify"
	"github.com/ppter/ppter/shared/site"
)

// Example is the embedded example configuration: two sites on the memory store. It is what
// the function runs on when no config file is given, which is only useful locally (the
// memory store refuses to start inside Function Compute).
//
//go:embed ppter.example.yaml
var Example []byte

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid config")

// Defaults.
const (
	DefaultInterval      = time.Minute
	DefaultMaxFailures   = 10
	DefaultFailureWindow = time.Minute
	DefaultEventsMax     = 1000
	DefaultKeyPrefix     = "{ppter}"
	DefaultPingBudget    = 15 * time.Second
)

// Config is the validated configuration of the function.
type Config struct {
	Redis  Redis              `yaml:"redis"`
	Admin  Admin              `yaml:"admin"`
	Aliyun Aliyun             `yaml:"aliyun"`
	Ping   Ping               `yaml:"ping"`
	Auth   Auth               `yaml:"auth"`
	Events Events             `yaml:"events"`
	Sites  map[site.Name]Site `yaml:"sites"`
	Notify []notify.Webhook   `yaml:"notify"`

	// SiteNames lists the sites in sorted order (filled by validation).
	SiteNames []site.Name `yaml:"-"`
	// Warnings are settings that load but no longer do anything (filled by validation;
	// the function logs them at start).
	Warnings []string `yaml:"-"`
	// StateKey encrypts the secrets of saved VPN settings (AES-256-GCM): 32 bytes from the
	// 64 hex characters of $PPTER_STATE_KEY, or of the file $PPTER_STATE_KEY_FILE names.
	// Required when any site has VPN targets.
	StateKey []byte `yaml:"-"`
	// Credentials are the environment's Alibaba Cloud credentials ($ALIBABA_CLOUD_ACCESS_KEY_ID,
	// …_SECRET, …_SECURITY_TOKEN); an invocation's own (its role's) take precedence.
	Credentials cloud.Credentials `yaml:"-"`
	// InsideFC says the environment is a real Function Compute instance ($FC_FUNCTION_NAME,
	// $FC_INSTANCE_ID or $FC_ACCOUNT_ID set; the local emulator sets none).
	InsideFC bool `yaml:"-"`
}

// Redis says where state lives.
type Redis struct {
	// URL is redis://, rediss:// (TLS) or memory:// (local runs only).
	URL string `yaml:"url"`
	// Prefix is the key prefix; it must contain a {hash tag} so all keys land in one slot.
	Prefix string `yaml:"prefix"`
	// SingleNode says the Redis has no replica: a saved VPN re-point is not confirmed with
	// WAIT before a connection is deleted. Off by default: one replica must confirm it.
	SingleNode bool `yaml:"single_node"`
	// Memory says URL is memory:// (filled by validation).
	Memory bool `yaml:"-"`
}

// Admin holds the bearer token of GET /v1/status.
type Admin struct {
	Token string `yaml:"token"`
}

// Aliyun holds the cloud API settings. Credentials never come from here.
type Aliyun struct {
	Region      string `yaml:"region"` // default $FC_REGION
	DNSEndpoint string `yaml:"dns_endpoint"`
	VPCEndpoint string `yaml:"vpc_endpoint"`
	Protocol    string `yaml:"protocol"`
	DryRun      bool   `yaml:"dry_run"`
	// PingBudget bounds the reconcile a ping does after a change, so the office gets its
	// answer in time; what is left (a VPN re-point waits on the gateway) the timer finishes
	// within the function's own timeout.
	PingBudget time.Duration `yaml:"ping_budget"`
}

// Ping describes how often sites are expected to ping.
type Ping struct {
	// Interval is the expected time between two pings of a site.
	Interval time.Duration `yaml:"interval"`
	// StaleAfter marks a site stale when it has not pinged for this long (default 3×Interval).
	StaleAfter time.Duration `yaml:"stale_after"`
}

// Auth tunes the slowing of repeated authentication failures.
type Auth struct {
	// MaxFailures is how many failures one source address may make per FailureWindow
	// before it gets 429.
	MaxFailures   int           `yaml:"max_failures"`
	FailureWindow time.Duration `yaml:"failure_window"`
}

// Events sizes the capped event stream.
type Events struct {
	Max int64 `yaml:"max"`
}

// Site is one office.
type Site struct {
	// Key is the site's shared secret: it signs the pinger's requests (HMAC), and it is
	// accepted as a Basic password only when Basic is true.
	Key string `yaml:"key"`
	// Basic accepts Key as the password of Basic credentials (curl -u, dyndns2 clients).
	// Off by default: Basic sends the secret itself, which never expires.
	Basic bool `yaml:"basic"`
	// DynDNSKey, when set, is the only password /nic/update accepts for the site, so a
	// router's DDNS client never holds the HMAC secret. It is never accepted on /v1/ping.
	DynDNSKey string `yaml:"dyndns_key"`
	// Peers lists the sites whose addresses this site receives; left empty, validation fills
	// it with every other site.
	Peers []site.Name `yaml:"peers"`
	// TrustMyIP lets /nic/update record the myip parameter instead of the source address.
	TrustMyIP bool `yaml:"trust_myip"`
	// Lines names the office's internet lines, the default line first; empty: one unnamed
	// line. A ping names its line, and each line's addresses are kept apart.
	Lines []string `yaml:"lines"`
	// IPv6Suffix, an interface ID like "::1", makes an IPv6 address taken from a
	// connection's source be recorded as the source's /64 prefix with this interface ID
	// (the router's, when the pinger runs on a LAN host). An explicit myip is kept as given.
	IPv6Suffix string `yaml:"ipv6_suffix"`
	// Targets are the DNS records (dns) and VPN Gateway connections (vpn) that follow the
	// site's address.
	cloud.Targets `yaml:",inline"`

	// LineNames is Lines checked (filled by validation).
	LineNames []site.Line `yaml:"-"`
	// Suffix is IPv6Suffix parsed (filled by validation; invalid when unset).
	Suffix netip.Addr `yaml:"-"`
}

// DefaultLine is the site's default line: its first declared line, or "" (the one unnamed
// line of a site without lines).
func (s Site) DefaultLine() site.Line {
	if len(s.LineNames) == 0 {
		return ""
	}
	return s.LineNames[0]
}

// StoredLine maps the line a ping names to the line the store keeps it under: "" (the
// site's default line, kept where a site without lines keeps its record) for an empty name
// or the default line's name, the name itself for another declared line. ok is false for
// a line the site does not declare.
func (s Site) StoredLine(name string) (l site.Line, ok bool) {
	switch {
	case name == "" || name == string(s.DefaultLine()):
		return "", true
	case slices.Contains(s.LineNames, site.Line(name)):
		return site.Line(name), true
	}
	return "", false
}

// LineName is the name a stored line has on the wire: the default line's name for "".
func (s Site) LineName(stored site.Line) site.Line { return cmp.Or(stored, s.DefaultLine()) }

// OtherLines are the site's declared lines besides its default one (store.PingInput.Lines).
func (s Site) OtherLines() []site.Line {
	if len(s.LineNames) < 2 {
		return nil
	}
	return s.LineNames[1:]
}

// Unit is one of a site's targets with the stored line (see StoredLine) it follows.
type Unit struct {
	Line    site.Line
	Targets cloud.Targets // one target
}

// Units returns each of the site's targets alone with the line it follows, in the order of
// its List: a DNS record follows its line_of_site; a VPN connection whose tunnels follow
// two lines is two targets, one per tunnel (cloud.VPNConn.Roles).
func (s Site) Units() []Unit {
	var out []Unit
	for _, r := range s.DNS {
		l, _ := s.StoredLine(r.LineOfSite)
		out = append(out, Unit{l, cloud.Targets{DNS: []cloud.DNSRecord{r}}})
	}
	for _, v := range s.VPN {
		m, _ := s.StoredLine(v.Tunnels.Master)
		sl, _ := s.StoredLine(v.Tunnels.Slave)
		if m == sl {
			out = append(out, Unit{m, cloud.Targets{VPN: []cloud.VPNConn{v}}})
			continue
		}
		master, slave := v, v
		master.Roles, slave.Roles = []string{cloud.RoleMaster}, []string{cloud.RoleSlave}
		out = append(out, Unit{m, cloud.Targets{VPN: []cloud.VPNConn{master}}},
			Unit{sl, cloud.Targets{VPN: []cloud.VPNConn{slave}}})
	}
	return out
}

// Following returns the site's targets that follow its stored line l.
func (s Site) Following(l site.Line) cloud.Targets {
	var out cloud.Targets
	for _, u := range s.Units() {
		if u.Line == l {
			out.DNS = append(out.DNS, u.Targets.DNS...)
			out.VPN = append(out.VPN, u.Targets.VPN...)
		}
	}
	return out
}

// AllTargets is every target of the site, a connection whose tunnels follow two lines
// once per tunnel (the targets that have a state of their own).
func (s Site) AllTargets() []cloud.Target {
	var out []cloud.Target
	for _, u := range s.Units() {
		out = append(out, u.Targets.List()...)
	}
	return out
}

// Recorded is the address to record for a source address a: with an ipv6_suffix, an IPv6
// source's /64 prefix with that interface ID; else a itself.
func (s Site) Recorded(a netip.Addr) netip.Addr {
	if !s.Suffix.IsValid() || !a.Is6() || a.Is4In6() {
		return a
	}
	b, id := a.As16(), s.Suffix.As16()
	copy(b[8:], id[8:])
	return netip.AddrFrom16(b)
}

// Env looks up environment variables; os.LookupEnv in production, a map in tests.
type Env func(string) (string, bool)

// ReadFile reads a file; os.ReadFile in production.
type ReadFile func(string) ([]byte, error)

// Load finds, reads and validates the configuration. The path is $PPTER_CONFIG, else
// ppter.yaml in dir (the binary's directory) when it exists, else the embedded Example.
// It returns the config and where it came from.
func Load(env Env, readFile ReadFile, dir string) (*Config, string, error) {
	path, ok := env("PPTER_CONFIG")
	if !ok || path == "" {
		path = dir + "/ppter.yaml"
		if _, err := os.Stat(path); err != nil {
			c, err := Parse(Example, env, readFile)
			return c, "embedded example", err
		}
	}
	raw, err := readFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(raw, env, readFile)
	return c, path, err
}

// Parse expands ${NAME} references in raw, decodes it strictly and validates the result.
func Parse(raw []byte, env Env, readFile ReadFile) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := expand(&root, "", env, readFile); err != nil {
		return nil, err
	}
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, cleanYAMLError(err))
	}
	if err := c.readEnv(env, readFile); err != nil {
		return nil, err
	}
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// EnvCredentials are the cloud credentials the environment gives (ALIBABA_CLOUD_*).
func EnvCredentials(env Env) cloud.Credentials {
	get := func(k string) string { v, _ := env(k); return v }
	return cloud.Credentials{AccessKeyID: get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
		AccessKeySecret: get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), SecurityToken: get("ALIBABA_CLOUD_SECURITY_TOKEN")}
}

// readEnv reads what the environment says besides ${NAME} references: the region's default,
// the state key, the cloud credentials and whether this is a Function Compute instance.
func (c *Config) readEnv(env Env, readFile ReadFile) (err error) {
	get := func(k string) string {
		v, _ := env(k)
		return v
	}
	c.Aliyun.Region = cmp.Or(c.Aliyun.Region, get("FC_REGION"))
	c.Credentials = EnvCredentials(env)
	c.InsideFC = get("FC_FUNCTION_NAME")+get("FC_INSTANCE_ID")+get("FC_ACCOUNT_ID") != ""
	c.StateKey, err = stateKey(env, readFile)
	return err
}

// ErrStateKey is wrapped by a missing or malformed state key.
var ErrStateKey = errors.New("state key")

// stateKey reads $PPTER_STATE_KEY, else the file $PPTER_STATE_KEY_FILE names: 64 hex
// characters (ppter-admin keygen --bytes 32). Neither set is no key. The value never
// appears in an error.
func stateKey(env Env, readFile ReadFile) ([]byte, error) {
	v, ok := env("PPTER_STATE_KEY")
	from := "PPTER_STATE_KEY"
	if !ok || v == "" {
		f, ok := env("PPTER_STATE_KEY_FILE")
		if !ok || f == "" {
			return nil, nil
		}
		b, err := readFile(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %w: PPTER_STATE_KEY_FILE: %v", ErrInvalid, ErrStateKey, err)
		}
		v, from = strings.TrimSpace(string(b)), "PPTER_STATE_KEY_FILE "+f
	}
	k, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%w: %w: %s must be 64 hex characters (ppter-admin keygen --bytes 32)", ErrInvalid, ErrStateKey, from)
	}
	return k, nil
}

var refRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${NAME} in scalar values, walking the tree so that values containing YAML
// syntax stay plain strings. On the way it checks the site names (the keys of sites and
// each site's peers): site.Name refuses a bad one while decoding too, but yaml.v3 passes
// its error on without the key, and a config error names its key.
func expand(n *yaml.Node, path string, env Env, readFile ReadFile) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			if err := expand(c, p, env, readFile); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if err := site.Validate(p); path == "sites" && err != nil {
				return invalid(path, "%v", err)
			}
			if path != "" {
				p = path + "." + p
			}
			if err := expand(n.Content[i+1], p, env, readFile); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return checkPeer(path, n.Value)
		}
		var firstErr error
		n.Value = refRE.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := env(name); ok {
				return v
			}
			if f, ok := env(name + "_FILE"); ok && f != "" {
				b, err := readFile(f)
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%w: %s: %s_FILE: %v", ErrInvalid, path, name, err)
				}
				return strings.TrimRight(string(b), "\r\n")
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s: environment variable %s is not set (nor %s_FILE)", ErrInvalid, path, name, name)
			}
			return ""
		})
		if firstErr != nil {
			return firstErr
		}
		if err := checkPeer(path, n.Value); err != nil {
			return err
		}
		n.Tag, n.Style = "", 0 // numbers and booleans referenced from the environment keep their type
		if needsString(path) {
			n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		}
	}
	return nil
}

// peerRE matches the path of a site's peer.
var peerRE = regexp.MustCompile(`^sites\.[^.]+\.peers\[\d+\]$`)

// checkPeer refuses a bad site name at a peer's path, naming the path.
func checkPeer(path, v string) error {
	if err := site.Validate(v); err != nil && peerRE.MatchString(path) {
		return invalid(path, "%v", err)
	}
	return nil
}

// needsString reports whether the key at path always holds a string, so an expanded value
// like "0123" or "yes" must not turn into a number or a boolean.
func needsString(path string) bool {
	last := path[strings.LastIndex(path, ".")+1:]
	return slices.Contains([]string{"key", "dyndns_key", "url", "token", "secret", "prefix", "region", "dns_endpoint", "vpc_endpoint", "protocol"}, last)
}

// durationRE matches yaml.v3's refusal of a value for a time.Duration.
var durationRE = regexp.MustCompile("cannot unmarshal !!\\w+ `([^`]*)` into time.Duration")

func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n  ")
	s = durationRE.ReplaceAllStringFunc(s, func(m string) string {
		return fmt.Sprintf("%q is not a duration like 30s or 5m", durationRE.FindStringSubmatch(m)[1])
	})
	return strings.ReplaceAll(s, "\n  ", "; ")
}

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

// setDefaults fills every key the file left out: the one place defaults are applied.
func (c *Config) setDefaults() {
	c.Redis.Prefix = cmp.Or(c.Redis.Prefix, DefaultKeyPrefix)
	c.Aliyun.PingBudget = cmp.Or(c.Aliyun.PingBudget, DefaultPingBudget)
	c.Ping.Interval = cmp.Or(c.Ping.Interval, DefaultInterval)
	c.Ping.StaleAfter = cmp.Or(c.Ping.StaleAfter, 3*c.Ping.Interval)
	c.Auth.MaxFailures = cmp.Or(c.Auth.MaxFailures, DefaultMaxFailures)
	c.Auth.FailureWindow = cmp.Or(c.Auth.FailureWindow, DefaultFailureWindow)
	c.Events.Max = cmp.Or(c.Events.Max, DefaultEventsMax)
	for _, s := range c.Sites {
		for i := range s.DNS {
			s.DNS[i].SetDefaults()
		}
		for i := range s.VPN {
			s.VPN[i].SetDefaults()
		}
	}
}

// validate checks every key (after setDefaults) and fills what follows from them.
func (c *Config) validate() error {
	if err := c.Redis.validate(); err != nil {
		return err
	}
	p := strings.ToLower(c.Aliyun.Protocol)
	for _, v := range []struct {
		bad      bool
		key, msg string
	}{
		{c.Admin.Token != "" && len(c.Admin.Token) < 16, "admin.token", "shorter than 16 characters"},
		{p != "" && p != "http" && p != "https", "aliyun.protocol", "must be http or https"},
		{c.Aliyun.PingBudget < time.Second, "aliyun.ping_budget", "must be at least 1s"},
		{c.Ping.Interval < 0, "ping.interval", "must be positive"},
		{c.Ping.StaleAfter < 0, "ping.stale_after", "must be positive"},
		{c.Auth.MaxFailures < 0, "auth.max_failures", "must be positive"},
		{c.Auth.FailureWindow < time.Second, "auth.failure_window", "must be at least 1s"},
		{c.Events.Max < 10, "events.max", "must be at least 10"},
		{len(c.Sites) == 0, "sites", "no sites configured"},
	} {
		if v.bad {
			return invalid(v.key, "%s", v.msg)
		}
	}
	names := slices.Sorted(maps.Keys(c.Sites)) // each a valid name: decoding checked it
	c.SiteNames = names
	for _, name := range names {
		s := c.Sites[name]
		if err := s.validate("sites."+string(name), name, names, &c.Warnings); err != nil {
			return err
		}
		c.Sites[name] = s
	}
	for _, check := range []func([]site.Name) error{c.distinctTargets, c.cloudNeeds, c.distinctSecrets} {
		if err := check(names); err != nil {
			return err
		}
	}
	if err := notify.Validate("notify", c.Notify); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

var prefixRE = regexp.MustCompile(`^[^{}]*\{[^{}]+\}[^{}]*$`)

// validate checks the URL (the one place its scheme is read) and the prefix.
func (r *Redis) validate() error {
	if r.URL == "" {
		return invalid("redis.url", "missing (redis://host:6379/0, rediss://… or memory:// for local runs)")
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return invalid("redis.url", "not a URL")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return invalid("redis.url", "no host in %s://…", u.Scheme)
		}
	case "memory":
		r.Memory = true
	default:
		return invalid("redis.url", "scheme %q not supported (use redis, rediss or memory)", u.Scheme)
	}
	if !prefixRE.MatchString(r.Prefix) {
		return invalid("redis.prefix", "must contain one {hash tag}, like {ppter}")
	}
	return nil
}

// distinctTargets refuses a DNS record or VPN connection configured twice (two sites would
// pull it back and forth).
func (c *Config) distinctTargets(names []site.Name) error {
	seen := map[string]string{}
	dup := func(k, at string) (string, bool) {
		other, ok := seen[k]
		seen[k] = at
		return other, ok
	}
	for _, name := range names {
		for i, r := range c.Sites[name].DNS {
			at := fmt.Sprintf("sites.%s.dns[%d]", name, i)
			if other, ok := dup(strings.ToLower(r.Key().String()), at); ok {
				return invalid(at, "record %s is also configured at %s", r.Name(), other)
			}
		}
		for i, v := range c.Sites[name].VPN {
			at := fmt.Sprintf("sites.%s.vpn[%d]", name, i)
			if other, ok := dup(v.Key().String(), at); ok {
				return invalid(at, "connection %s of %s is also configured at %s", v.Connection, v.Gateway, other)
			}
		}
	}
	return nil
}

// cloudNeeds checks that a site with cloud targets has a region, and with VPN targets a
// state key.
func (c *Config) cloudNeeds(names []site.Name) error {
	for _, name := range names {
		if s := c.Sites[name]; len(s.DNS)+len(s.VPN) > 0 && c.Aliyun.Region == "" {
			return invalid("aliyun.region", "missing (sites.%s has cloud targets; or set FC_REGION)", name)
		}
		if len(c.Sites[name].VPN) > 0 && c.StateKey == nil {
			return fmt.Errorf("%w: %w: sites.%s has VPN targets: set PPTER_STATE_KEY (or PPTER_STATE_KEY_FILE) to 64 hex characters (ppter-admin keygen --bytes 32); it encrypts the saved VPN settings", ErrInvalid, ErrStateKey, name)
		}
	}
	return nil
}

// distinctSecrets refuses a secret that serves two credentials (two sites' keys, a site key
// and the admin token, a dyndns_key and any other): a leak of one would give away the other,
// and the failure limiter could not tell them apart. The error names the keys, never the
// secret.
func (c *Config) distinctSecrets(names []site.Name) error {
	type secret struct{ key, value string }
	var all []secret
	for _, name := range names {
		at := "sites." + string(name)
		all = append(all, secret{at + ".key", c.Sites[name].Key}, secret{at + ".dyndns_key", c.Sites[name].DynDNSKey})
	}
	all = append(all, secret{"admin.token", c.Admin.Token})
	first := map[string]string{}
	for _, s := range all {
		if s.value == "" {
			continue // an unset dyndns_key or admin token
		}
		if other, dup := first[s.value]; dup {
			return invalid(s.key, "the same secret as %s; every site key, dyndns_key and the admin token must differ", other)
		}
		first[s.value] = s.key
	}
	return nil
}

func (s *Site) validate(key string, name site.Name, all []site.Name, warnings *[]string) error {
	switch {
	case s.Key == "":
		return invalid(key+".key", "missing (the site's secret; use ${PPTER_KEY_%s})", strings.ToUpper(strings.ReplaceAll(string(name), "-", "_")))
	case len(s.Key) < 16:
		return invalid(key+".key", "shorter than 16 characters")
	case s.DynDNSKey != "" && len(s.DynDNSKey) < 16:
		return invalid(key+".dyndns_key", "shorter than 16 characters")
	}
	if err := s.resolvePeers(key, name, all); err != nil {
		return err
	}
	if err := s.resolveLines(key); err != nil {
		return err
	}
	for i, r := range s.DNS {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("%w: %s.dns[%d].%w", ErrInvalid, key, i, err)
		}
		if _, ok := s.StoredLine(r.LineOfSite); !ok {
			return invalid(fmt.Sprintf("%s.dns[%d].line_of_site", key, i), "line %q is not declared in %s.lines%s", r.LineOfSite, key, s.Declared())
		}
	}
	for i, v := range s.VPN {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("%w: %s.vpn[%d].%w", ErrInvalid, key, i, err)
		}
		for _, t := range []struct{ key, line string }{{"master", v.Tunnels.Master}, {"slave", v.Tunnels.Slave}} {
			if _, ok := s.StoredLine(t.line); !ok {
				return invalid(fmt.Sprintf("%s.vpn[%d].tunnels.%s", key, i, t.key), "line %q is not declared in %s.lines%s", t.line, key, s.Declared())
			}
		}
		if v.Strategy != "" {
			*warnings = append(*warnings, fmt.Sprintf("%s.vpn[%d].strategy is ignored: a dual-tunnel connection is re-pointed in place, a single-tunnel one is recreated (remove the key)", key, i))
		}
	}
	return nil
}

// resolvePeers checks Peers, or fills it with every other site.
func (s *Site) resolvePeers(key string, name site.Name, all []site.Name) error {
	if len(s.Peers) == 0 {
		for _, o := range all {
			if o != name {
				s.Peers = append(s.Peers, o)
			}
		}
		return nil
	}
	for i, p := range s.Peers {
		at := fmt.Sprintf("%s.peers[%d]", key, i)
		switch {
		case p == name:
			return invalid(at, "a site cannot be its own peer")
		case !slices.Contains(all, p):
			return invalid(at, "unknown site %q", p)
		case slices.Contains(s.Peers[:i], p):
			return invalid(at, "site %q listed twice", p)
		}
	}
	return nil
}

// resolveLines fills LineNames and Suffix.
func (s *Site) resolveLines(key string) error {
	for i, l := range s.Lines {
		at := fmt.Sprintf("%s.lines[%d]", key, i)
		n, err := site.ParseLine(l)
		if err != nil {
			return invalid(at, "%v", err)
		}
		if slices.Contains(s.LineNames, n) {
			return invalid(at, "line %q listed twice", l)
		}
		s.LineNames = append(s.LineNames, n)
	}
	if s.IPv6Suffix == "" {
		return nil
	}
	a, err := netip.ParseAddr(s.IPv6Suffix)
	if b := a.As16(); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || [8]byte(b[:8]) != [8]byte{} || a.IsUnspecified() {
		return invalid(key+".ipv6_suffix", "%q is not an interface ID: want a non-zero IPv6 address whose upper 64 bits are zero, like ::1", s.IPv6Suffix)
	}
	s.Suffix = a
	return nil
}

// Declared tells which lines the site declares, for an error: " (declared: [telecom
// unicom])", or " (the site declares none)".
func (s Site) Declared() string {
	if len(s.LineNames) == 0 {
		return " (the site declares none)"
	}
	return fmt.Sprintf(" (declared: %v)", s.LineNames)
}

// Peers returns the configured peers of s.
func (c *Config) Peers(s site.Name) []site.Name { return c.Sites[s].Peers }

// Key returns the secret of s and whether s is configured.
func (c *Config) Key(s site.Name) ([]byte, bool) {
	st, ok := c.Sites[s]
	if !ok {
		return nil, false
	}
	return []byte(st.Key), true
}
