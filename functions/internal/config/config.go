// Package config reads and validates the function's YAML configuration: the one place where
// the file and the environment are read. Everything else receives a *Config.
//
// String values may reference environment variables as ${NAME}; when NAME is unset and
// NAME_FILE names a file, the file's content (without its trailing newline) is used, so
// secrets can come from mounted files. Unknown keys are an error.
package config

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

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
	DefaultDNSTTL        = 600
	DefaultVPNInterval   = 5 * time.Minute
	DefaultKeyPrefix     = "{ppter}"
	DefaultPingBudget    = 15 * time.Second
)

// Config is the validated configuration of the function.
type Config struct {
	Redis  Redis            `yaml:"redis"`
	Admin  Admin            `yaml:"admin"`
	Aliyun Aliyun           `yaml:"aliyun"`
	Ping   Ping             `yaml:"ping"`
	Auth   Auth             `yaml:"auth"`
	Events Events           `yaml:"events"`
	Sites  map[string]Site  `yaml:"sites"`
	Notify []notify.Webhook `yaml:"notify"`

	// SiteNames lists the sites in sorted order (filled by validation).
	SiteNames []site.Name `yaml:"-"`
	// Warnings are settings that load but no longer do anything (filled by validation;
	// the function logs them at start).
	Warnings []string `yaml:"-"`
	// StateKey encrypts the secrets of saved VPN settings (AES-256-GCM): 32 bytes from the
	// 64 hex characters of $PPTER_STATE_KEY, or of the file $PPTER_STATE_KEY_FILE names.
	// Required when any site has VPN targets.
	StateKey []byte `yaml:"-"`
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
	PingBudget Duration `yaml:"ping_budget"`
}

// Ping describes how often sites are expected to ping.
type Ping struct {
	// Interval is the expected time between two pings of a site.
	Interval Duration `yaml:"interval"`
	// StaleAfter marks a site stale when it has not pinged for this long (default 3×Interval).
	StaleAfter Duration `yaml:"stale_after"`
}

// Auth tunes the slowing of repeated authentication failures.
type Auth struct {
	// MaxFailures is how many failures one source address may make per FailureWindow
	// before it gets 429.
	MaxFailures   int      `yaml:"max_failures"`
	FailureWindow Duration `yaml:"failure_window"`
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
	// Peers lists the sites whose addresses this site receives; empty means every other site.
	Peers []string `yaml:"peers"`
	// TrustMyIP lets /nic/update record the myip parameter instead of the source address.
	TrustMyIP bool `yaml:"trust_myip"`
	// DNS records that follow the site's address.
	DNS []DNSRecord `yaml:"dns"`
	// VPN connections of a VPN Gateway that tunnel to the site.
	VPN []VPNConn `yaml:"vpn"`

	// PeerNames is Peers resolved (filled by validation).
	PeerNames []site.Name `yaml:"-"`
}

// DNSRecord is an Alidns record that follows a site's address.
type DNSRecord struct {
	Zone string `yaml:"zone"`
	RR   string `yaml:"rr"`
	Type string `yaml:"type"`
	TTL  int    `yaml:"ttl"`
	Line string `yaml:"line"`
	// Edition of the zone's Alidns plan: free, personal (TTL ≥ 600), enterprise (≥ 60) or
	// ultimate (≥ 1). Default free.
	Edition string `yaml:"edition"`
}

// Name returns the record's display name, e.g. "hz.vpn.example.com/A".
func (r DNSRecord) Name() string {
	host := r.Zone
	if r.RR != "@" {
		host = r.RR + "." + r.Zone
	}
	return host + "/" + r.Type
}

// VPNConn is a VPN Gateway IPsec connection re-pointed at a site's address.
type VPNConn struct {
	Gateway    string `yaml:"gateway"`
	Connection string `yaml:"connection"`
	// Strategy is obsolete: the connection's kind decides how it is re-pointed (dual-tunnel
	// in place, single-tunnel by recreate). Old configs still load, with a warning.
	Strategy    string   `yaml:"strategy"`
	MinInterval Duration `yaml:"min_interval"`
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

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
	if c.Aliyun.Region == "" {
		c.Aliyun.Region, _ = env("FC_REGION")
	}
	if c.StateKey, err = stateKey(env, readFile); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
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
// syntax stay plain strings.
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
			if path != "" {
				p = path + "." + p
			}
			if err := expand(n.Content[i+1], p, env, readFile); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
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
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
		if !needsString(path) {
			// Numbers and booleans referenced from the environment keep their type.
			n.Tag, n.Style = "", 0
		}
	}
	return nil
}

// needsString reports whether the key at path always holds a string, so an expanded value
// like "0123" or "yes" must not turn into a number or a boolean.
func needsString(path string) bool {
	last := path[strings.LastIndex(path, ".")+1:]
	switch last {
	case "key", "dyndns_key", "url", "token", "secret", "prefix", "region", "dns_endpoint", "vpc_endpoint", "protocol":
		return true
	}
	return false
}

func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n  ")
	return strings.ReplaceAll(s, "\n  ", "; ")
}

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

// validate fills defaults and checks every key.
func (c *Config) validate() error {
	if c.Redis.URL == "" {
		return invalid("redis.url", "missing (redis://host:6379/0, rediss://… or memory:// for local runs)")
	}
	u, err := url.Parse(c.Redis.URL)
	if err != nil {
		return invalid("redis.url", "not a URL")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return invalid("redis.url", "no host in %s://…", u.Scheme)
		}
	case "memory":
	default:
		return invalid("redis.url", "scheme %q not supported (use redis, rediss or memory)", u.Scheme)
	}
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = DefaultKeyPrefix
	}
	if !regexp.MustCompile(`^[^{}]*\{[^{}]+\}[^{}]*$`).MatchString(c.Redis.Prefix) {
		return invalid("redis.prefix", "must contain one {hash tag}, like {ppter}")
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		return invalid("admin.token", "shorter than 16 characters")
	}
	if p := strings.ToLower(c.Aliyun.Protocol); p != "" && p != "http" && p != "https" {
		return invalid("aliyun.protocol", "must be http or https")
	}
	if c.Aliyun.PingBudget == 0 {
		c.Aliyun.PingBudget = Duration(DefaultPingBudget)
	}
	if c.Aliyun.PingBudget < Duration(time.Second) {
		return invalid("aliyun.ping_budget", "must be at least 1s")
	}
	if c.Ping.Interval == 0 {
		c.Ping.Interval = Duration(DefaultInterval)
	}
	if c.Ping.Interval < 0 {
		return invalid("ping.interval", "must be positive")
	}
	if c.Ping.StaleAfter == 0 {
		c.Ping.StaleAfter = 3 * c.Ping.Interval
	}
	if c.Ping.StaleAfter < 0 {
		return invalid("ping.stale_after", "must be positive")
	}
	if c.Auth.MaxFailures == 0 {
		c.Auth.MaxFailures = DefaultMaxFailures
	}
	if c.Auth.MaxFailures < 0 {
		return invalid("auth.max_failures", "must be positive")
	}
	if c.Auth.FailureWindow == 0 {
		c.Auth.FailureWindow = Duration(DefaultFailureWindow)
	}
	if c.Auth.FailureWindow < Duration(time.Second) {
		return invalid("auth.failure_window", "must be at least 1s")
	}
	if c.Events.Max == 0 {
		c.Events.Max = DefaultEventsMax
	}
	if c.Events.Max < 10 {
		return invalid("events.max", "must be at least 10")
	}
	if len(c.Sites) == 0 {
		return invalid("sites", "no sites configured")
	}
	names := make([]string, 0, len(c.Sites))
	for name := range c.Sites {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n, err := site.Parse(name)
		if err != nil {
			return invalid("sites", "%v", err)
		}
		c.SiteNames = append(c.SiteNames, n)
	}
	for _, name := range names {
		s := c.Sites[name]
		if err := s.validate("sites."+name, name, names, &c.Warnings); err != nil {
			return err
		}
		c.Sites[name] = s
	}
	seen := map[string]string{}
	for _, name := range names {
		for i, r := range c.Sites[name].DNS {
			k := strings.ToLower(r.Name())
			if other, dup := seen[k]; dup {
				return invalid(fmt.Sprintf("sites.%s.dns[%d]", name, i), "record %s is also configured at %s", r.Name(), other)
			}
			seen[k] = fmt.Sprintf("sites.%s.dns[%d]", name, i)
		}
		for i, v := range c.Sites[name].VPN {
			k := "vpn " + v.Gateway + "/" + v.Connection
			if other, dup := seen[k]; dup {
				return invalid(fmt.Sprintf("sites.%s.vpn[%d]", name, i), "connection %s of %s is also configured at %s", v.Connection, v.Gateway, other)
			}
			seen[k] = fmt.Sprintf("sites.%s.vpn[%d]", name, i)
		}
	}
	for _, name := range names {
		if s := c.Sites[name]; len(s.DNS)+len(s.VPN) > 0 && c.Aliyun.Region == "" {
			return invalid("aliyun.region", "missing (sites.%s has cloud targets; or set FC_REGION)", name)
		}
		if len(c.Sites[name].VPN) > 0 && c.StateKey == nil {
			return fmt.Errorf("%w: %w: sites.%s has VPN targets: set PPTER_STATE_KEY (or PPTER_STATE_KEY_FILE) to 64 hex characters (ppter-admin keygen --bytes 32); it encrypts the saved VPN settings", ErrInvalid, ErrStateKey, name)
		}
	}
	if err := c.distinctSecrets(names); err != nil {
		return err
	}
	if err := notify.Validate("notify", c.Notify); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// distinctSecrets refuses a secret that serves two credentials (two sites' keys, a site key
// and the admin token, a dyndns_key and any other): a leak of one would give away the other,
// and the failure limiter could not tell them apart. The error names the keys, never the
// secret.
func (c *Config) distinctSecrets(names []string) error {
	type secret struct{ key, value string }
	var all []secret
	for _, name := range names {
		s := c.Sites[name]
		all = append(all, secret{"sites." + name + ".key", s.Key})
		if s.DynDNSKey != "" {
			all = append(all, secret{"sites." + name + ".dyndns_key", s.DynDNSKey})
		}
	}
	if c.Admin.Token != "" {
		all = append(all, secret{"admin.token", c.Admin.Token})
	}
	first := map[string]string{}
	for _, s := range all {
		if other, dup := first[s.value]; dup {
			return invalid(s.key, "the same secret as %s; every site key, dyndns_key and the admin token must differ", other)
		}
		first[s.value] = s.key
	}
	return nil
}

var hostLabelRE = regexp.MustCompile(`^(\*|[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)$`)

func validHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !hostLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

func (s *Site) validate(key, name string, all []string, warnings *[]string) error {
	if s.Key == "" {
		return invalid(key+".key", "missing (the site's secret; use ${PPTER_KEY_%s})", strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
	}
	if len(s.Key) < 16 {
		return invalid(key+".key", "shorter than 16 characters")
	}
	if s.DynDNSKey != "" && len(s.DynDNSKey) < 16 {
		return invalid(key+".dyndns_key", "shorter than 16 characters")
	}
	if len(s.Peers) == 0 {
		for _, o := range all {
			if o != name {
				s.PeerNames = append(s.PeerNames, site.Name(o))
			}
		}
	}
	for i, p := range s.Peers {
		switch {
		case p == name:
			return invalid(fmt.Sprintf("%s.peers[%d]", key, i), "a site cannot be its own peer")
		case !slices.Contains(all, p):
			return invalid(fmt.Sprintf("%s.peers[%d]", key, i), "unknown site %q", p)
		case slices.Contains(s.Peers[:i], p):
			return invalid(fmt.Sprintf("%s.peers[%d]", key, i), "site %q listed twice", p)
		}
		s.PeerNames = append(s.PeerNames, site.Name(p))
	}
	for i := range s.DNS {
		r := &s.DNS[i]
		k := fmt.Sprintf("%s.dns[%d]", key, i)
		if !validHost(r.Zone) || !strings.Contains(r.Zone, ".") {
			return invalid(k+".zone", "%q is not a domain name", r.Zone)
		}
		if r.RR == "" {
			return invalid(k+".rr", "missing (the host part, or @ for the zone apex)")
		}
		if r.RR != "@" && !validHost(r.RR) {
			return invalid(k+".rr", "%q is not a host name", r.RR)
		}
		r.Type = strings.ToUpper(r.Type)
		if r.Type != "A" && r.Type != "AAAA" {
			return invalid(k+".type", "must be A or AAAA")
		}
		if r.Edition == "" {
			r.Edition = "free"
		}
		minTTL, ok := map[string]int{"free": 600, "personal": 600, "enterprise": 60, "ultimate": 1}[r.Edition]
		if !ok {
			return invalid(k+".edition", "%q is not one of free, personal, enterprise, ultimate", r.Edition)
		}
		if r.TTL == 0 {
			r.TTL = max(DefaultDNSTTL, minTTL)
		}
		if r.TTL < minTTL || r.TTL > 86400 {
			return invalid(k+".ttl", "%d is outside %d–86400 allowed on the %s edition (set edition: if the zone's plan allows less)", r.TTL, minTTL, r.Edition)
		}
		if r.Line == "" {
			r.Line = "default"
		}
	}
	for i := range s.VPN {
		v := &s.VPN[i]
		k := fmt.Sprintf("%s.vpn[%d]", key, i)
		if !regexp.MustCompile(`^vpn-[a-z0-9]+$`).MatchString(v.Gateway) {
			return invalid(k+".gateway", "%q is not a VPN gateway ID (vpn-…)", v.Gateway)
		}
		if v.Connection == "" {
			return invalid(k+".connection", "missing (the IPsec connection's name)")
		}
		switch v.Strategy {
		case "":
		case "recreate", "modify":
			*warnings = append(*warnings, k+".strategy is ignored: a dual-tunnel connection is re-pointed in place, a single-tunnel one is recreated (remove the key)")
		default:
			return invalid(k+".strategy", "is obsolete and ignored; remove it (it was recreate or modify)")
		}
		if v.MinInterval == 0 {
			v.MinInterval = Duration(DefaultVPNInterval)
		}
		if v.MinInterval < 0 {
			return invalid(k+".min_interval", "must be positive")
		}
	}
	return nil
}

// Peers returns the configured peers of s.
func (c *Config) Peers(s site.Name) []site.Name { return c.Sites[string(s)].PeerNames }

// Key returns the secret of s and whether s is configured.
func (c *Config) Key(s site.Name) ([]byte, bool) {
	st, ok := c.Sites[string(s)]
	if !ok {
		return nil, false
	}
	return []byte(st.Key), true
}
