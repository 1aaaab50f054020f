package cloud

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	alidns "github.com/alibabacloud-go/alidns-20150109/v4/client"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/ppter/ppter/shared/wire"
)

// DNSRecord is an Alidns record that follows a site's address.
type DNSRecord struct {
	Zone string // "example.com"
	RR   string // "hz.vpn", or "@" for the apex
	Type string // "A" (follows IPv4) or "AAAA" (follows IPv6)
	TTL  int64  // seconds; 0 means DefaultTTL
	Line string // resolution line; "" means "default"
	// Enterprise says the zone is on an edition that allows TTLs below 600 s (down to 1 s).
	Enterprise bool
}

// FQDN returns the record's full name.
func (d DNSRecord) FQDN() string {
	if d.RR == "@" {
		return d.Zone
	}
	return d.RR + "." + d.Zone
}

func (d DNSRecord) ttl() int64 {
	if d.TTL == 0 {
		return DefaultTTL
	}
	return d.TTL
}

func (d DNSRecord) line() string {
	if d.Line == "" {
		return "default"
	}
	return d.Line
}

// Validate checks the record's configuration: type A or AAAA, zone and RR set, and a TTL the
// zone's edition accepts (600 s minimum unless Enterprise).
func (d DNSRecord) Validate() error { return d.validate() }

func (d DNSRecord) validate() error {
	if d.Zone == "" || d.RR == "" || strings.HasSuffix(d.RR, ".") {
		return fmt.Errorf("%w: dns record needs zone and rr (rr relative to the zone, \"@\" for the apex)", ErrBadTarget)
	}
	if d.Type != "A" && d.Type != "AAAA" {
		return fmt.Errorf("%w: dns %s: type %q (want A or AAAA)", ErrBadTarget, d.FQDN(), d.Type)
	}
	minTTL := int64(DefaultTTL)
	if d.Enterprise {
		minTTL = 1
	}
	if t := d.ttl(); t < minTTL || t > 86400 {
		return fmt.Errorf("%w: dns %s: ttl %d (minimum %d on this zone's edition; set enterprise for less)", ErrTTL, d.FQDN(), t, minTTL)
	}
	return nil
}

func (d DNSRecord) key() TargetKey {
	return TargetKey{Kind: wire.KindDNS, Name: d.FQDN() + "/" + d.Type}
}

func (d DNSRecord) result() Result { return Result{Kind: wire.KindDNS, Name: d.FQDN() + "/" + d.Type} }

func (d DNSRecord) family(a Addrs) (netip.Addr, time.Time) {
	if d.Type == "AAAA" {
		return a.IPv6, a.Seen6
	}
	return a.IPv4, a.Seen4
}

// findRecords returns the records named like d (same type and line).
func (r *Reconciler) findRecords(ctx context.Context, d DNSRecord) ([]*alidns.DescribeSubDomainRecordsResponseBodyDomainRecordsRecord, error) {
	var out []*alidns.DescribeSubDomainRecordsResponseBodyDomainRecordsRecord
	for page := int64(1); ; page++ {
		var resp *alidns.DescribeSubDomainRecordsResponse
		err := r.call(ctx, "DescribeSubDomainRecords", func() (err error) {
			resp, err = r.DNS.DescribeSubDomainRecords(&alidns.DescribeSubDomainRecordsRequest{
				SubDomain: tea.String(d.FQDN()), DomainName: tea.String(d.Zone), Type: tea.String(d.Type),
				PageNumber: tea.Int64(page), PageSize: tea.Int64(100)})
			return err
		})
		if err != nil {
			return nil, err
		}
		var recs []*alidns.DescribeSubDomainRecordsResponseBodyDomainRecordsRecord
		if resp.Body != nil && resp.Body.DomainRecords != nil {
			recs = resp.Body.DomainRecords.Record
		}
		for _, rec := range recs {
			if tea.StringValue(rec.Type) == d.Type && tea.StringValue(rec.RR) == d.RR && tea.StringValue(rec.Line) == d.line() {
				out = append(out, rec)
			}
		}
		if len(recs) < 100 || page*100 >= tea.Int64Value(resp.Body.TotalCount) {
			return out, nil
		}
	}
}

// applyDNS makes the record point at ip with the configured TTL and line: add it when
// absent, update it only when it differs. DomainRecordDuplicate means it already is so.
// With several records of that name, type and line (round robin), one matching is enough
// and otherwise the first one is updated.
func (r *Reconciler) applyDNS(ctx context.Context, d DNSRecord, ip netip.Addr, hold bool) (string, error) {
	recs, err := r.findRecords(ctx, d)
	if err != nil {
		return wire.StateError, fmt.Errorf("dns %s: %w", d.FQDN(), err)
	}
	for _, rec := range recs {
		if tea.StringValue(rec.Value) == ip.String() && tea.Int64Value(rec.TTL) == d.ttl() {
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
		req := &alidns.AddDomainRecordRequest{DomainName: tea.String(d.Zone), RR: tea.String(d.RR), Type: tea.String(d.Type),
			Value: tea.String(ip.String()), TTL: tea.Int64(d.ttl()), Line: tea.String(d.line())}
		if r.DryRun {
			r.wouldCall("AddDomainRecord", req)
			return wire.StateDryRun, nil
		}
		err = r.call(ctx, "AddDomainRecord", func() error { _, err := r.DNS.AddDomainRecord(req); return err })
	} else {
		req := &alidns.UpdateDomainRecordRequest{RecordId: recs[0].RecordId, RR: tea.String(d.RR), Type: tea.String(d.Type),
			Value: tea.String(ip.String()), TTL: tea.Int64(d.ttl()), Line: tea.String(d.line())}
		if r.DryRun {
			r.wouldCall("UpdateDomainRecord", req)
			return wire.StateDryRun, nil
		}
		err = r.call(ctx, "UpdateDomainRecord", func() error { _, err := r.DNS.UpdateDomainRecord(req); return err })
	}
	if err != nil && Code(err) != "DomainRecordDuplicate" {
		return wire.StateError, fmt.Errorf("dns %s: %w", d.FQDN(), err)
	}
	return wire.StateApplied, nil
}

// wouldCall logs a mutating call that dry run leaves out. req holds no secret: callers
// build it from redacted values (logPlan).
func (r *Reconciler) wouldCall(action string, req any) {
	r.log().Info("cloud: dry run: would call", "action", action, "params", tea.Prettify(req))
}
