package cloud

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	alidns "github.com/alibabacloud-go/alidns-20150109/v4/client"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/ppter/ppter/shared/wire"
)

// RecordType is a DNS record's type: A follows the site's IPv4 address, AAAA its IPv6.
type RecordType string

// Record types.
const (
	TypeA    RecordType = "A"
	TypeAAAA RecordType = "AAAA"
)

// Edition is the Alidns plan of a record's zone: it bounds the record's TTL.
type Edition string

// minTTL is each edition's lowest TTL in seconds (the upper bound is 86400 on all).
var minTTL = map[Edition]int64{"free": 600, "personal": 600, "enterprise": 60, "ultimate": 1}

// DNSRecord is an Alidns record that follows a site's address (config: sites.*.dns).
type DNSRecord struct {
	Zone string     `yaml:"zone"` // "example.com"
	RR   string     `yaml:"rr"`   // "hz.vpn", or "@" for the apex
	Type RecordType `yaml:"type"`
	TTL  int64      `yaml:"ttl"`  // seconds (default DefaultTTL)
	Line string     `yaml:"line"` // resolution line (default "default")
	// LineOfSite names the site's line (its lines) whose address the record follows;
	// empty: the site's default line. The config checks it is declared.
	LineOfSite string `yaml:"line_of_site"`
	// Edition of the zone's Alidns plan: free, personal (TTL ≥ 600), enterprise (≥ 60) or
	// ultimate (≥ 1). Default free.
	Edition Edition `yaml:"edition"`
}

// SetDefaults fills what the configuration left out and upper-cases the type.
func (d *DNSRecord) SetDefaults() {
	d.Type = RecordType(strings.ToUpper(string(d.Type)))
	d.Edition = cmp.Or(d.Edition, "free")
	d.TTL = cmp.Or(d.TTL, DefaultTTL)
	d.Line = cmp.Or(d.Line, "default")
}

// Validate checks the record (after SetDefaults); a *FieldError names the bad key.
func (d DNSRecord) Validate() error {
	switch {
	case !validHost(d.Zone) || !strings.Contains(d.Zone, "."):
		return &FieldError{"zone", fmt.Sprintf("%q is not a domain name", d.Zone), ErrBadTarget}
	case d.RR == "":
		return &FieldError{"rr", "missing (the host part, or @ for the zone apex)", ErrBadTarget}
	case d.RR != "@" && !validHost(d.RR):
		return &FieldError{"rr", fmt.Sprintf("%q is not a host name", d.RR), ErrBadTarget}
	case d.Type != TypeA && d.Type != TypeAAAA:
		return &FieldError{"type", "must be A or AAAA", ErrBadTarget}
	}
	lo, ok := minTTL[d.Edition]
	if !ok {
		return &FieldError{"edition", fmt.Sprintf("%q is not one of free, personal, enterprise, ultimate", d.Edition), ErrBadTarget}
	}
	if d.TTL < lo || d.TTL > 86400 {
		return &FieldError{"ttl", fmt.Sprintf("%d is outside %d–86400 allowed on the %s edition (set edition: if the zone's plan allows less)", d.TTL, lo, d.Edition), ErrTTL}
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

// FQDN returns the record's full name.
func (d DNSRecord) FQDN() string {
	if d.RR == "@" {
		return d.Zone
	}
	return d.RR + "." + d.Zone
}

// Name is the record as results, the status page and the event stream show it:
// "hz.vpn.example.com/A".
func (d DNSRecord) Name() string { return d.FQDN() + "/" + string(d.Type) }

// Key names the record in the reconciler's state.
func (d DNSRecord) Key() TargetKey { return TargetKey{Kind: wire.KindDNS, Name: d.Name()} }

func (d DNSRecord) family(a Addrs) (netip.Addr, time.Time) {
	if d.Type == TypeAAAA {
		return a.IPv6, a.Seen6
	}
	return a.IPv4, a.Seen4
}

// findRecords returns the records named like d (same type and line).
func (r *Reconciler) findRecords(ctx context.Context, d DNSRecord) ([]*alidns.DescribeSubDomainRecordsResponseBodyDomainRecordsRecord, error) {
	recs, err := allPages(100, func(page int) ([]*alidns.DescribeSubDomainRecordsResponseBodyDomainRecordsRecord, int, error) {
		resp, err := retried(ctx, r, "DescribeSubDomainRecords", r.DNS.DescribeSubDomainRecords, &alidns.DescribeSubDomainRecordsRequest{
			SubDomain: tea.String(d.FQDN()), DomainName: tea.String(d.Zone), Type: tea.String(string(d.Type)),
			PageNumber: tea.Int64(int64(page)), PageSize: tea.Int64(100)})
		if err != nil || resp.Body == nil || resp.Body.DomainRecords == nil {
			return nil, 0, err
		}
		return resp.Body.DomainRecords.Record, int(tea.Int64Value(resp.Body.TotalCount)), nil
	})
	if err != nil {
		return nil, err
	}
	var out []*alidns.DescribeSubDomainRecordsResponseBodyDomainRecordsRecord
	for _, rec := range recs {
		if tea.StringValue(rec.Type) == string(d.Type) && tea.StringValue(rec.RR) == d.RR && tea.StringValue(rec.Line) == d.Line {
			out = append(out, rec)
		}
	}
	return out, nil
}

// applyDNS makes the record point at ip with the configured TTL and line: add it when
// absent, update it only when it differs. DomainRecordDuplicate means it already is so.
// With several records of that name, type and line (round robin), one matching is enough
// and otherwise the first one is updated.
func (r *Reconciler) applyDNS(ctx context.Context, d DNSRecord, ip netip.Addr, hold bool) (wire.State, error) {
	recs, err := r.findRecords(ctx, d)
	if err != nil {
		return wire.StateError, fmt.Errorf("dns %s: %w", d.FQDN(), err)
	}
	for _, rec := range recs {
		if tea.StringValue(rec.Value) == ip.String() && tea.Int64Value(rec.TTL) == d.TTL {
			if r.DryRun {
				return wire.StateDryRun, nil
			}
			return wire.StateApplied, nil
		}
	}
	if hold {
		return wire.StateError, fmt.Errorf("dns %s: %w", d.FQDN(), ErrUnconfirmed)
	}
	if len(recs) == 0 {
		req := &alidns.AddDomainRecordRequest{DomainName: tea.String(d.Zone), RR: tea.String(d.RR), Type: tea.String(string(d.Type)),
			Value: tea.String(ip.String()), TTL: tea.Int64(d.TTL), Line: tea.String(d.Line)}
		if r.DryRun {
			r.wouldCall("AddDomainRecord", req)
			return wire.StateDryRun, nil
		}
		_, err = retried(ctx, r, "AddDomainRecord", r.DNS.AddDomainRecord, req)
	} else {
		req := &alidns.UpdateDomainRecordRequest{RecordId: recs[0].RecordId, RR: tea.String(d.RR), Type: tea.String(string(d.Type)),
			Value: tea.String(ip.String()), TTL: tea.Int64(d.TTL), Line: tea.String(d.Line)}
		if r.DryRun {
			r.wouldCall("UpdateDomainRecord", req)
			return wire.StateDryRun, nil
		}
		_, err = retried(ctx, r, "UpdateDomainRecord", r.DNS.UpdateDomainRecord, req)
	}
	if err != nil && Code(err) != "DomainRecordDuplicate" {
		return wire.StateError, fmt.Errorf("dns %s: %w", d.FQDN(), err)
	}
	return wire.StateApplied, nil
}

// wouldCall logs a mutating call that dry run leaves out. req holds no secret: callers
// build it from redacted values (logPlan).
func (r *Reconciler) wouldCall(action string, req any) {
	r.Log.Info("cloud: dry run: would call", "action", action, "params", tea.Prettify(req))
}
