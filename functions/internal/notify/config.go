// Package notify sends operational notifications of the function (address changes, target
// failures and recoveries, sites going stale and coming back) to chat robots and webhooks:
// DingTalk, WeCom (企业微信), Feishu/Lark and a generic JSON POST.
//
// A [Notifier] is built once from the validated [Webhook] list of the config. Notify sends
// in the background, concurrently to every sink that wants the event, each send bounded by
// a timeout; failures are logged (never with the webhook's URL, which carries its token)
// and never returned, so a broken webhook never fails a ping. Because Function Compute may
// freeze the instance once an invocation returns, the handler calls [Notifier.Wait] with
// the invocation's deadline before it answers.
package notify

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Kind is the kind of an event.
type Kind string

// Event kinds.
const (
	AddressChanged  Kind = "address_changed"  // a site's address changed
	TargetFailed    Kind = "target_failed"    // a DNS record or VPN connection failed to follow
	TargetRecovered Kind = "target_recovered" // a failed target was applied again
	// TargetVanished: a VPN connection whose target was applied no longer exists (deleted
	// by hand, or a re-point lost its saved settings); ppter cannot recreate it.
	TargetVanished Kind = "target_vanished"
	SiteStale      Kind = "site_stale"   // a site stopped pinging for stale_after
	SiteBack       Kind = "site_back"    // a stale site pinged again
	AuthLimited    Kind = "auth_limited" // a burst of failed attempts against one credential from one source
)

// Kinds lists every event kind, in documentation order.
var Kinds = []Kind{AddressChanged, TargetFailed, TargetRecovered, TargetVanished, SiteStale, SiteBack, AuthLimited}

// ParseKind validates s as an event kind.
func ParseKind(s string) (Kind, error) {
	if slices.Contains(Kinds, Kind(s)) {
		return Kind(s), nil
	}
	return "", fmt.Errorf("%w %q (want one of %s)", ErrUnknownEvent, s, joinKinds())
}

func joinKinds() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Sink is the format a webhook speaks: one file per sink (dingtalk.go, wecom.go, feishu.go,
// json.go), each a [sink] in sinks.
type Sink string

var sinks = map[Sink]sink{
	DingTalk: {markdown: true, secret: true, request: dingtalkRequest, check: robotCheck},
	WeCom:    {markdown: true, request: wecomRequest, check: robotCheck},
	Feishu:   {secret: true, request: feishuRequest, check: robotCheck},
	JSON:     {secret: true, request: jsonRequest, check: func([]byte) error { return nil }}, // a 2xx status is all it needs
}

// Message formats of DingTalk and WeCom robots.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
)

// Webhook is one notification sink, as written under notify: in the function's config.
type Webhook struct {
	// Kind is dingtalk, wecom, feishu or json.
	Kind Sink `yaml:"kind"`
	// URL is the robot's webhook address; it usually carries its token and is never logged.
	URL string `yaml:"url"`
	// Secret is the robot's signing secret (DingTalk "SEC…", Feishu signature key), or for
	// json the key of the X-Ppter-Signature header. Optional; wecom has none.
	Secret string `yaml:"secret"`
	// Events lists the kinds this sink receives; empty means all.
	Events []string `yaml:"events"`
	// Format is text (default) or markdown, for dingtalk and wecom.
	Format string `yaml:"format"`
}

// Errors of Validate, wrapped with the key at fault.
var (
	ErrInvalid      = errors.New("invalid notify config")
	ErrUnknownEvent = errors.New("unknown event kind")
)

// Validate checks the webhooks and reports the first problem, naming its key the way it
// appears in the config file (prefix is e.g. "notify": "notify[1].events[0]: …").
func Validate(prefix string, hooks []Webhook) error {
	for i, w := range hooks {
		if err := w.validate(fmt.Sprintf("%s[%d]", prefix, i)); err != nil {
			return err
		}
	}
	return nil
}

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

func (w Webhook) validate(key string) error {
	s, ok := sinks[w.Kind]
	if !ok {
		return invalid(key+".kind", "%q is not one of dingtalk, wecom, feishu, json", w.Kind)
	}
	if w.URL == "" {
		return invalid(key+".url", "missing")
	}
	// Never echo the URL: it carries the robot's token.
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return invalid(key+".url", "not an http(s) URL without user info")
	}
	if w.Secret != "" && !s.secret {
		return invalid(key+".secret", "%s robots have no signing secret (the key is in the URL)", w.Kind)
	}
	if w.Format == FormatMarkdown && !s.markdown {
		return invalid(key+".format", "markdown is only for dingtalk and wecom")
	}
	if w.Format != "" && w.Format != FormatText && w.Format != FormatMarkdown {
		return invalid(key+".format", "%q is not text or markdown", w.Format)
	}
	for j, e := range w.Events {
		at := fmt.Sprintf("%s.events[%d]", key, j)
		if _, err := ParseKind(e); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, at, err)
		}
		if slices.Contains(w.Events[:j], e) {
			return invalid(at, "%q listed twice", e)
		}
	}
	return nil
}

// wants reports whether the webhook receives events of kind k.
func (w Webhook) wants(k Kind) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, string(k))
}

// redacted names the webhook in logs without its token: "feishu https://open.feishu.cn".
func (w Webhook) redacted() string {
	u, err := url.Parse(w.URL)
	if err != nil {
		return string(w.Kind)
	}
	return string(w.Kind) + " " + u.Scheme + "://" + u.Host
}
