package notify

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Event is something an operator wants to hear about. Which fields are set depends on Kind:
//
//   - address_changed: IP (new), PreviousIP (zero for a site's first address)
//   - target_failed: TargetKind, Target, IP (the address it should point at), Error
//   - target_recovered: TargetKind, Target, IP
//   - target_vanished: TargetKind, Target, IP, Error (a VPN connection that was applied is gone)
//   - site_stale: SeenAt (last ping), IP (last address)
//   - site_back: IP, SeenAt (the ping that brought it back)
//   - auth_limited: Credential, Source, Failures, IP (the address of the failure that hit
//     the limit); Site is empty for the admin token
type Event struct {
	Kind       Kind
	Site       site.Name
	At         time.Time
	IP         netip.Addr
	PreviousIP netip.Addr
	// Line is the site's line the event is about (its lines); empty for a site without
	// lines and for events about no line.
	Line       site.Line
	TargetKind wire.Kind
	Target     string // e.g. "hz.vpn.example.com/A" or "to-hz"
	Error      string
	SeenAt     time.Time
	// Credential is what failed attempts tried: "site hz key", "site hz dyndns_key",
	// "admin token". Never the secret.
	Credential string
	Source     string // the source the failures are counted in: an IPv4 address or an IPv6 /64
	Failures   int
}

// payload is the JSON body of the json sink. Field names follow the wire protocol's style
// and may be added to, never renamed.
type payload struct {
	Kind       Kind   `json:"kind"`
	Site       string `json:"site"`
	Line       string `json:"line,omitempty"`
	At         string `json:"at"`
	IP         string `json:"ip,omitempty"`
	PreviousIP string `json:"previous_ip,omitempty"`
	TargetKind string `json:"target_kind,omitempty"`
	Target     string `json:"target,omitempty"`
	Error      string `json:"error,omitempty"`
	SeenAt     string `json:"seen_at,omitempty"`
	Credential string `json:"credential,omitempty"`
	Source     string `json:"source,omitempty"`
	Failures   int    `json:"failures,omitempty"`
	Text       string `json:"text"`
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (e Event) payload() payload {
	return payload{
		Kind:       e.Kind,
		Site:       string(e.Site),
		Line:       string(e.Line),
		At:         timeString(e.At),
		IP:         wire.AddrString(e.IP),
		PreviousIP: wire.AddrString(e.PreviousIP),
		TargetKind: string(e.TargetKind),
		Target:     e.Target,
		Error:      e.Error,
		SeenAt:     timeString(e.SeenAt),
		Credential: e.Credential,
		Source:     e.Source,
		Failures:   e.Failures,
		Text:       e.Text(),
	}
}

// Title is a one-line summary: "ppter hz: address changed".
func (e Event) Title() string {
	what := string(e.Kind)
	switch e.Kind {
	case AddressChanged:
		what = "address changed"
	case TargetFailed, TargetRecovered, TargetVanished: // "dns hz.vpn.example.com/A failed"
		what = string(e.TargetKind) + " " + e.Target + " " + strings.TrimPrefix(what, "target_")
	case SiteStale, SiteBack: // "stale", "back"
		what = strings.TrimPrefix(what, "site_")
	case AuthLimited:
		what = "too many failed attempts on the " + e.Credential
	}
	if e.Site == "" {
		return "ppter: " + what
	}
	return fmt.Sprintf("ppter %s: %s", e.Site, what)
}

// Text is the plain-text message: the title and the details, one per line.
func (e Event) Text() string {
	s := e.Title()
	for _, kv := range e.details() {
		s += "\n" + kv[0] + ": " + kv[1]
	}
	return s
}

// Markdown is the message for DingTalk and WeCom markdown robots.
func (e Event) Markdown() string {
	s := "### " + mdEscape(e.Title())
	for _, kv := range e.details() {
		s += "\n- **" + kv[0] + "**: " + mdEscape(kv[1])
	}
	return s
}

// mdEscape keeps error texts and names from turning into markup.
var mdEscape = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "#", `\#`,
).Replace

func (e Event) details() [][2]string {
	var d [][2]string
	add := func(k, v string) {
		if v != "" {
			d = append(d, [2]string{k, v})
		}
	}
	switch e.Kind {
	case AddressChanged:
		add("address", cmp.Or(wire.AddrString(e.PreviousIP), "none")+" → "+wire.AddrString(e.IP))
	case SiteStale:
		add("last seen", timeString(e.SeenAt))
		add("last address", wire.AddrString(e.IP))
	case AuthLimited:
		add("source", e.Source)
		add("failures", fmt.Sprint(e.Failures))
		fallthrough
	case TargetRecovered, SiteBack:
		add("address", wire.AddrString(e.IP))
	case TargetFailed, TargetVanished:
		add("address", wire.AddrString(e.IP))
		add("error", e.Error)
	}
	add("line", string(e.Line))
	add("at", timeString(e.At))
	return d
}
