// Package statuspage renders the answer of GET /v1/status: the fleet's sites, the cloud
// targets that follow them and the recent events, as JSON for programs and as a small
// self-contained HTML page for browsers (inline CSS, no script, no external asset).
//
// The handler fills a [Fleet] from the store, picks the format with [WantsHTML] and answers
// with [JSON] or [HTML] and the matching content type (plus [ContentSecurityPolicy] for
// HTML). Rows are rendered in the order given; stale sites and failed targets stand out by
// colour ([ColorStale], [ColorFailed]) and by a text label, so the page reads without
// colour too.
package statuspage

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html"
	"mime"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Fleet is the whole status view.
type Fleet struct {
	GeneratedAt time.Time `json:"generated_at"`
	Sites       []Site    `json:"sites"`
	Targets     []Target  `json:"targets"`
	Events      []Event   `json:"events"`
}

// Site is one office's last known addresses. A zero address or time means "never".
type Site struct {
	Name      site.Name  `json:"name"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6"`
	SeenAt    time.Time  `json:"seen_at,omitzero"`
	ChangedAt time.Time  `json:"changed_at,omitzero"`
	Stale     bool       `json:"stale"`
	// Lines are the site's declared lines, default line first (the fields above are its);
	// absent for a site without lines.
	Lines []wire.PeerLine `json:"lines,omitempty"`
}

// Target is the state of one cloud resource following a site's address.
type Target struct {
	Site      site.Name  `json:"site"`
	Kind      wire.Kind  `json:"kind"`
	Name      string     `json:"name"`
	State     wire.State `json:"state"`
	IP        netip.Addr `json:"ip"`
	Error     string     `json:"error,omitempty"`
	UpdatedAt time.Time  `json:"updated_at,omitzero"`
}

// Failed reports whether the target is in the error state (wire.StateError).
func (t Target) Failed() bool { return t.State == wire.StateError }

// Event is one entry of the event stream, newest first as the handler reads it.
type Event struct {
	At     time.Time `json:"at"`
	Site   site.Name `json:"site"`
	Line   site.Line `json:"line,omitempty"` // the site's line, for a site with lines
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// Content types of the two renderings.
const (
	ContentTypeJSON = "application/json; charset=utf-8"
	ContentTypeHTML = "text/html; charset=utf-8"
)

// ContentSecurityPolicy is the header to send with the HTML page: it needs nothing but
// its own inline style.
const ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Row colours of the HTML page (CSS hex), exported for tests and documentation.
const (
	ColorStale  = "#f4b400" // amber background of a stale site's row
	ColorFailed = "#e06666" // red background of a failed target's row
	ColorOK     = "#d9ead3" // pale green of a fresh site or an applied target
)

// JSON renders f as indented JSON with a trailing newline.
func JSON(f Fleet) ([]byte, error) {
	f = f.normalised()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// normalised turns nil slices into empty ones so JSON has [] rather than null.
func (f Fleet) normalised() Fleet {
	if f.Sites == nil {
		f.Sites = []Site{}
	}
	if f.Targets == nil {
		f.Targets = []Target{}
	}
	if f.Events == nil {
		f.Events = []Event{}
	}
	return f
}

// The page is written by hand with [html.EscapeString] on every value, not with
// html/template: a template engine calls methods by name through reflection
// (reflect.Value.MethodByName), and once a binary reaches that the linker must keep every
// exported method of every reachable type — the whole VPC SDK client and go-redis' command
// set — which tripled the deployable that Function Compute unpacks on every cold start.
// Each value below lands in element text or a double-quoted attribute, where
// html.EscapeString (& < > " ') is the complete escaping.

//go:embed page_head.html
var pageHead string

// HTML renders f as the status page.
func HTML(f Fleet) ([]byte, error) {
	stale, failed := 0, 0
	for _, s := range f.Sites {
		if s.Stale {
			stale++
		}
	}
	for _, t := range f.Targets {
		if t.Failed() {
			failed++
		}
	}
	var p pageWriter
	p.raw(strings.NewReplacer("{{colorOK}}", ColorOK, "{{colorStale}}", ColorStale, "{{colorFailed}}", ColorFailed).Replace(pageHead))
	p.raw(`<p class="meta">Generated `, stamp(f.GeneratedAt), " · ", strconv.Itoa(len(f.Sites)), " sites (", strconv.Itoa(stale),
		" stale) · ", strconv.Itoa(len(f.Targets)), " targets (", strconv.Itoa(failed), " failed)</p>\n\n<h2>Sites</h2>")
	if len(f.Sites) == 0 {
		p.raw("\n<p class=\"none\">No site has pinged yet.</p>")
	} else {
		p.raw("\n<table id=\"sites\">\n<thead><tr><th>Site</th><th>IPv4</th><th>IPv6</th><th>Last ping</th><th>Address changed</th><th>Status</th></tr></thead>\n<tbody>")
		for _, s := range f.Sites {
			class, badge := "ok", "ok"
			switch {
			case s.Stale:
				class, badge = "stale", "STALE"
			case s.SeenAt.IsZero():
				class, badge = "other", "no ping yet"
			}
			name := string(s.Name)
			p.raw("\n<tr class=\"", class, "\" data-site=\"").text(name).raw("\">\n<td><b>").text(name).raw("</b></td>")
			p.addrCells(f.GeneratedAt, s.IPv4, s.IPv6, s.SeenAt, s.ChangedAt, badge)
			for _, l := range s.Lines {
				class, badge := "ok", "ok"
				switch {
				case l.Stale && !l.SeenAt.IsZero():
					class, badge = "stale", "STALE"
				case l.SeenAt.IsZero():
					class, badge = "other", "no ping yet"
				}
				p.raw("\n<tr class=\"", class, " line\" data-site=\"").text(name).raw("\" data-line=\"").text(l.Name).raw("\">\n<td>&nbsp;&nbsp;line ").text(l.Name).raw("</td>")
				p.addrCells(f.GeneratedAt, l.IPv4, l.IPv6, l.SeenAt, l.ChangedAt, badge)
			}
		}
		p.raw("\n</tbody>\n</table>")
	}
	p.raw("\n\n<h2>Targets (DNS records and VPN tunnels)</h2>")
	if len(f.Targets) == 0 {
		p.raw("\n<p class=\"none\">No targets configured.</p>")
	} else {
		p.raw("\n<table id=\"targets\">\n<thead><tr><th>Site</th><th>Kind</th><th>Name</th><th>State</th><th>Address</th><th>Updated</th><th>Last error</th></tr></thead>\n<tbody>")
		for _, t := range f.Targets {
			class := "other"
			switch {
			case t.Failed():
				class = "failed"
			case t.State == wire.StateApplied:
				class = "ok"
			case t.State == wire.StatePending:
				class = "pending"
			}
			p.raw("\n<tr class=\"", class, "\" data-target=\"").text(string(t.Kind)).raw("/").text(t.Name).raw("\">\n<td>").text(string(t.Site)).
				raw("</td><td>").text(string(t.Kind)).raw("</td><td><code>").text(t.Name).raw("</code></td>\n<td><span class=\"badge\">")
			if t.Failed() {
				p.raw("FAILED")
			} else {
				p.text(string(t.State))
			}
			p.raw("</span></td>\n<td><code>", addr(t.IP), "</code></td><td>", stamp(t.UpdatedAt), "</td><td class=\"err\">").text(t.Error).raw("</td>\n</tr>")
		}
		p.raw("\n</tbody>\n</table>")
	}
	p.raw("\n\n<h2>Recent events</h2>")
	if len(f.Events) == 0 {
		p.raw("\n<p class=\"none\">No events.</p>")
	} else {
		p.raw("\n<table id=\"events\">\n<thead><tr><th>When</th><th>Site</th><th>Kind</th><th>Detail</th></tr></thead>\n<tbody>")
		for _, e := range f.Events {
			who := string(e.Site)
			if e.Line != "" {
				who += " (" + string(e.Line) + ")"
			}
			p.raw("\n<tr class=\"event\"><td>", stamp(e.At), "</td><td>").text(who).raw("</td><td>").text(e.Kind).
				raw("</td><td class=\"detail\">").text(e.Detail).raw("</td></tr>")
		}
		p.raw("\n</tbody>\n</table>")
	}
	p.raw("\n</body>\n</html>\n")
	return p.b.Bytes(), nil
}

// pageWriter builds the page: raw for the page's own markup (and values that are
// markup-free by construction: numbers, addresses, timestamps), text for everything else.
type pageWriter struct{ b bytes.Buffer }

func (p *pageWriter) raw(parts ...string) *pageWriter {
	for _, s := range parts {
		p.b.WriteString(s)
	}
	return p
}

func (p *pageWriter) text(s string) *pageWriter {
	p.b.WriteString(html.EscapeString(s))
	return p
}

// addrCells ends a site's or a line's row: its addresses, last ping, last change and badge.
func (p *pageWriter) addrCells(now time.Time, v4, v6 netip.Addr, seen, changed time.Time, badge string) {
	p.raw("<td><code>", addr(v4), "</code></td><td><code>", addr(v6), "</code></td>\n<td>", stamp(seen), " <small>", ago(now, seen),
		"</small></td>\n<td>", stamp(changed), "</td>\n<td><span class=\"badge\">", badge, "</span></td>\n</tr>")
}

// addr formats an address, "—" when unknown.
func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "—"
	}
	return a.String()
}

// stamp formats a time to the second in UTC, "never" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago formats the time from t to now coarsely: "42s ago", "5m ago", "3h ago", "2d ago".
func ago(now, t time.Time) string {
	if t.IsZero() || now.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in the future"
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
	}
}

// WantsHTML reports whether a request's Accept header prefers an HTML page to JSON: it
// must list text/html (or application/xhtml+xml) with a quality above that of JSON (which
// application/json, application/* or */* give). Browsers send such a header; curl (*/*)
// and programs get JSON, also on a tie or an absent or garbled header.
func WantsHTML(accept string) bool {
	html, jsonExact, appAny, anyAny := -1.0, -1.0, -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		switch mt {
		case "text/html", "application/xhtml+xml":
			html = max(html, q)
		case "application/json":
			jsonExact = max(jsonExact, q)
		case "application/*":
			appAny = max(appAny, q)
		case "*/*":
			anyAny = max(anyAny, q)
		}
	}
	// The most specific range that matches JSON gives its quality.
	js := anyAny
	if appAny >= 0 {
		js = appAny
	}
	if jsonExact >= 0 {
		js = jsonExact
	}
	return html > 0 && html > js
}
