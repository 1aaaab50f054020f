// Package dyndns holds the pure pieces of ppter's dyndns2-compatible endpoint
// (GET /nic/update?hostname=SITE[&myip=IP]), so that a router's built-in DDNS client
// (ddclient, inadyn, the "custom dyndns2" setting of SMB routers) can act as a pinger.
//
// The handler does the I/O; this package parses the query, decides which hostnames are
// accepted and which address to record, and formats the plain-text answers:
//
//  1. authenticate the request with Basic site:secret; on failure answer [BadAuth]
//     (status from [StatusCode]) without calling anything here;
//  2. [ParseQuery] the query; on error answer [Reply] with the code of the error
//     ([ErrNoHostname]: notfqdn, [ErrTooManyHosts]: numhost);
//  3. [Decide] with the authenticated [Account], the FC source address and a [Lookup];
//  4. when [Decision.Record] is true, record [Decision.Addr] for [Decision.Site]
//     (one store call, even when the request names the site several times) and answer
//     [Decision.Reply] with whether the address changed; on a store failure answer
//     [Reply]([Answer]{Code: Code911}).
//
// Protocol decisions, documented for users:
//
//   - hostname may be a comma-separated list (the protocol allows up to [MaxHosts]); the
//     answer has one line per hostname, in order. A list longer than MaxHosts is refused
//     as a whole with "numhost".
//   - A hostname is matched case-insensitively and a trailing dot is ignored. It must be a
//     syntactically valid DNS name ("notfqdn" otherwise, also when hostname is absent or
//     empty), and the [Lookup] must map it to the authenticated site ("nohost" otherwise:
//     a site's credentials never update another site).
//   - The address recorded is the request's source address. myip is used only when the
//     site's config has trust_myip and myip holds a public unicast address ([ipclass.Public]);
//     a myip that is malformed, private or of no use is ignored, as dyndns2 specifies.
//     myip may list an IPv4 and an IPv6 address separated by a comma (inadyn's dual-stack
//     form); one address is recorded per request, preferring the source's family.
//   - wildcard, mx, backmx, offline and system are accepted and ignored.
package dyndns

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/ppter/ppter/shared/ipclass"
	"github.com/ppter/ppter/shared/site"
)

// MaxHosts is the most hostnames one request may name (dyndns2's limit).
const MaxHosts = 20

// Code is a dyndns2 return code, the first word of an answer line.
type Code string

// The return codes ppter answers with.
const (
	Good    Code = "good"    // the address was recorded and differs from the previous one
	NoChg   Code = "nochg"   // the address was recorded and is the same as before
	BadAuth Code = "badauth" // missing or wrong credentials
	NoHost  Code = "nohost"  // hostname is not a site of this account
	NotFQDN Code = "notfqdn" // hostname absent or not a valid name
	NumHost Code = "numhost" // more than MaxHosts hostnames
	Abuse   Code = "abuse"   // the caller is blocked (too many failures)
	Code911 Code = "911"     // server-side failure; the client should retry later
)

// Errors of ParseQuery: the answer is notfqdn and numhost.
var (
	ErrNoHostname   = errors.New("dyndns: hostname missing")
	ErrTooManyHosts = errors.New("dyndns: too many hostnames")
)

// StatusCode is the HTTP status to answer a code with. dyndns2 clients read the body, so
// every answer is 200 except badauth, which is 401 (with a WWW-Authenticate: Basic header,
// see Challenge) so that clients that wait for a challenge send their credentials.
func StatusCode(c Code) int {
	if c == BadAuth {
		return http.StatusUnauthorized
	}
	return http.StatusOK
}

// Challenge is the WWW-Authenticate header value to send with badauth.
const Challenge = `Basic realm="ppter", charset="UTF-8"`

// ContentType is the Content-Type of every answer.
const ContentType = "text/plain; charset=utf-8"

// Request is a parsed /nic/update query.
type Request struct {
	// Hostnames holds the hostnames in the order sent, lower-cased, trailing dot removed.
	// Entries may be invalid names; Decide answers notfqdn for them.
	Hostnames []string
	// MyIP holds the well-formed addresses of myip, in order, unmapped (::ffff:a.b.c.d
	// becomes a.b.c.d). Malformed entries are dropped.
	MyIP []netip.Addr
}

// ParseQuery parses the query of GET /nic/update. Repeated parameters (which Function
// Compute delivers comma-joined anyway) are treated as one comma-separated list.
func ParseQuery(q url.Values) (Request, error) {
	var r Request
	for _, v := range q["hostname"] {
		for _, h := range strings.Split(v, ",") {
			h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
			if h == "" {
				continue
			}
			r.Hostnames = append(r.Hostnames, h)
		}
	}
	if len(r.Hostnames) == 0 {
		return Request{}, ErrNoHostname
	}
	if len(r.Hostnames) > MaxHosts {
		return Request{}, ErrTooManyHosts
	}
	for _, v := range q["myip"] {
		for _, s := range strings.Split(v, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil || a.Zone() != "" {
				continue
			}
			r.MyIP = append(r.MyIP, a.Unmap())
		}
	}
	return r, nil
}

// ValidHostname reports whether h (already lower-cased, without trailing dot) is a
// syntactically valid DNS host name: dot-separated labels of 1–63 characters from a-z,
// 0-9 and '-', not starting or ending with '-', 253 characters at most.
func ValidHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Lookup maps a valid hostname to the configured site it names, or reports false.
type Lookup func(hostname string) (site.Name, bool)

// Account is the authenticated site and what its config allows.
type Account struct {
	Site      site.Name
	TrustMyIP bool
}

// Answer is one line of the reply. Addr is set for good and nochg.
type Answer struct {
	Code Code
	Addr netip.Addr
}

// String formats the line without its newline: "good 203.0.113.7", "nohost".
func (a Answer) String() string {
	if (a.Code == Good || a.Code == NoChg) && a.Addr.IsValid() {
		return string(a.Code) + " " + a.Addr.String()
	}
	return string(a.Code)
}

// Reply formats answers as the response body, one line each, each ending in a newline.
func Reply(answers ...Answer) string {
	var b strings.Builder
	for _, a := range answers {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Decision is what to do for a request.
type Decision struct {
	// Record tells whether Addr must be recorded for Site.
	Record bool
	Site   site.Name
	Addr   netip.Addr
	// FromMyIP tells that Addr came from myip rather than the source address (for logs).
	FromMyIP bool
	// Hosts holds one answer per hostname, in order. Entries with an empty Code are the
	// accepted ones; Reply fills them in.
	Hosts []Answer
}

// Decide checks each hostname of req against the authenticated account and chooses the
// address to record: the source address, or a public myip when acc.TrustMyIP.
// It answers 911 for accepted hostnames when no usable address is known.
func Decide(req Request, acc Account, source netip.Addr, lookup Lookup) Decision {
	d := Decision{Hosts: make([]Answer, len(req.Hostnames))}
	accepted := false
	for i, h := range req.Hostnames {
		switch n, ok := lookupValid(h, lookup); {
		case !ValidHostname(h):
			d.Hosts[i].Code = NotFQDN
		case !ok || n != acc.Site:
			d.Hosts[i].Code = NoHost
		default:
			accepted = true
		}
	}
	if !accepted {
		return d
	}
	addr, fromMyIP := Choose(source, req.MyIP, acc.TrustMyIP)
	if !addr.IsValid() {
		for i := range d.Hosts {
			if d.Hosts[i].Code == "" {
				d.Hosts[i].Code = Code911
			}
		}
		return d
	}
	d.Record, d.Site, d.Addr, d.FromMyIP = true, acc.Site, addr, fromMyIP
	return d
}

func lookupValid(h string, lookup Lookup) (site.Name, bool) {
	if !ValidHostname(h) || lookup == nil {
		return "", false
	}
	return lookup(h)
}

// Reply formats the answer once the address was recorded: good when changed, nochg
// otherwise, for each accepted hostname; the rejected ones keep their code.
func (d Decision) Reply(changed bool) string {
	out := make([]Answer, len(d.Hosts))
	for i, a := range d.Hosts {
		if a.Code == "" {
			a = Answer{Code: NoChg, Addr: d.Addr}
			if changed {
				a.Code = Good
			}
		}
		out[i] = a
	}
	return Reply(out...)
}

// Choose returns the address to record and whether it came from myip. Without trust, or
// without a public address in myip, it is the source address (unmapped); an invalid
// source then gives the zero Addr. With trust, a public myip of the source's family wins,
// else the first public myip.
func Choose(source netip.Addr, myip []netip.Addr, trust bool) (netip.Addr, bool) {
	source = source.Unmap()
	if trust {
		var first netip.Addr
		for _, a := range myip {
			if ipclass.Of(a) != ipclass.Public {
				continue
			}
			if source.IsValid() && a.Is4() == source.Is4() {
				return a, true
			}
			if !first.IsValid() {
				first = a
			}
		}
		if first.IsValid() {
			return first, true
		}
	}
	if !source.IsValid() || source.Zone() != "" {
		return netip.Addr{}, false
	}
	return source, false
}
