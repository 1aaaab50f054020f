package cloud

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// dnsRun reconciles recs, with their defaults filled as the config fills them, at ip.
func dnsRun(e *env, ip string, mode Mode, recs ...DNSRecord) []Result {
	for i := range recs {
		recs[i].SetDefaults()
	}
	a := Addrs{}
	if addr := netip.MustParseAddr(ip); addr.Is4() {
		a.IPv4 = addr
	} else {
		a.IPv6 = addr
	}
	return e.r.Reconcile(e.ctx(time.Minute), a, Targets{DNS: recs}, mode)
}

var hzA = DNSRecord{Zone: "example.com", RR: "hz.vpn", Type: "A", TTL: 600}

func TestDNSAddThenUpdateOnlyOnChange(t *testing.T) {
	e := newEnv(t, nil)
	rs := dnsRun(e, newIP, ModePing, hzA)
	if rs[0].State != wire.StateApplied || rs[0].Name != "hz.vpn.example.com/A" {
		t.Fatalf("add: got %+v", rs[0])
	}
	recs := e.emu.Records("example.com")
	if len(recs) != 1 || recs[0].Value != newIP || recs[0].TTL != 600 || recs[0].Line != "default" || e.emu.Calls("AddDomainRecord") != 1 {
		t.Fatalf("after add: got %+v, calls %v", recs, e.emu.CallLog())
	}
	addedID := recs[0].ID
	e.emu.ResetCalls()
	for i := 0; i < 3; i++ {
		if rs := dnsRun(e, newIP, ModePing, hzA); rs[0].State != wire.StateApplied {
			t.Fatalf("same IP: got %+v", rs[0])
		}
	}
	if n := e.emu.TotalCalls(); n != 0 {
		t.Fatalf("same-IP pings made %d cloud calls, want 0", n)
	}
	if rs := dnsRun(e, oldIP, ModePing, hzA); rs[0].State != wire.StateApplied || e.emu.Calls("UpdateDomainRecord") != 1 {
		t.Fatalf("change: got %+v, calls %v", rs[0], e.emu.CallLog())
	}
	if recs := e.emu.Records("example.com"); len(recs) != 1 || recs[0].Value != oldIP || recs[0].ID != addedID {
		t.Fatalf("after update: got %+v", recs)
	}
	// Apex AAAA follows IPv6.
	apex := DNSRecord{Zone: "example.com", RR: "@", Type: "AAAA"}
	if rs := dnsRun(e, "2001:db8::7", ModePing, apex); rs[0].State != wire.StateApplied || rs[0].Name != "example.com/AAAA" {
		t.Fatalf("apex AAAA: got %+v", rs[0])
	}
}

func TestDNSDuplicateIsSuccess(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.PutRecord("example.com", "hz.vpn", "A", oldIP, 600)
	// Someone else set the same value between our read and our write.
	e.emu.InjectError("UpdateDomainRecord", 1, 400, "DomainRecordDuplicate")
	if rs := dnsRun(e, newIP, ModePing, hzA); rs[0].State != wire.StateApplied || rs[0].Err != nil {
		t.Fatalf("update duplicate: got %+v", rs[0])
	}
	e.emu.InjectError("AddDomainRecord", 1, 400, "DomainRecordDuplicate")
	other := DNSRecord{Zone: "example.com", RR: "bj", Type: "A"}
	if rs := dnsRun(e, newIP, ModePing, other); rs[0].State != wire.StateApplied || rs[0].Err != nil {
		t.Fatalf("add duplicate: got %+v", rs[0])
	}
}

// TestDNSTTLRule: a TTL below the zone's edition's minimum (or above a day) is refused by
// Validate, which the config runs at load; the API refuses it too when the edition is wrong.
func TestDNSTTLRule(t *testing.T) {
	for _, tc := range []struct {
		edition Edition
		ttl     int64
		want    string // "" for valid
	}{
		{"", 60, "ttl: 60 is outside 600–86400 allowed on the free edition"},
		{"personal", 599, "ttl: 599 is outside 600–86400"},
		{"enterprise", 59, "ttl: 59 is outside 60–86400"},
		{"enterprise", 60, ""},
		{"ultimate", 1, ""},
		{"ultimate", 86401, "ttl: 86401 is outside 1–86400"},
		{"gold", 600, `edition: "gold" is not one of free`},
	} {
		d := DNSRecord{Zone: "example.com", RR: "hz", Type: "a", TTL: tc.ttl, Edition: tc.edition}
		d.SetDefaults()
		err := d.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s/%d: got %v, want %q", tc.edition, tc.ttl, err, tc.want)
		}
		if strings.HasPrefix(tc.want, "ttl") && !errors.Is(err, ErrTTL) {
			t.Errorf("%s/%d: got %v, want ErrTTL", tc.edition, tc.ttl, err)
		}
	}
	e := newEnv(t, nil)
	ent := DNSRecord{Zone: "ent.example.net", RR: "hz", Type: "A", TTL: 60, Edition: "enterprise"}
	if rs := dnsRun(e, newIP, ModePing, ent); rs[0].State != wire.StateApplied {
		t.Fatalf("TTL 60 on an enterprise zone: got %+v", rs[0])
	}
	if recs := e.emu.Records("ent.example.net"); len(recs) != 1 || recs[0].TTL != 60 {
		t.Fatalf("got %+v", recs)
	}
	// The API enforces the rule too when the config is wrong about the edition.
	lying := DNSRecord{Zone: "example.com", RR: "hz", Type: "A", TTL: 60, Edition: "enterprise"}
	if rs := dnsRun(e, newIP, ModePing, lying); rs[0].State != wire.StateError || Code(rs[0].Err) != "QuotaExceeded.TTL" {
		t.Fatalf("TTL refused by the API: got %+v", rs[0])
	}
	// TTL differing alone is an update.
	e.emu.PutRecord("example.com", "ttl", "A", newIP, 1200)
	if rs := dnsRun(e, newIP, ModePing, DNSRecord{Zone: "example.com", RR: "ttl", Type: "A"}); rs[0].State != wire.StateApplied || e.emu.Calls("UpdateDomainRecord") != 1 {
		t.Fatalf("TTL update: got %+v, calls %v", rs[0], e.emu.CallLog())
	}
}

func TestDNSDriftRepairedByTimer(t *testing.T) {
	e := newEnv(t, nil)
	dnsRun(e, newIP, ModePing, hzA)
	id := e.emu.Records("example.com")[0].ID
	e.emu.EditRecord(id, "192.0.2.1") // edited by hand in the console
	e.emu.ResetCalls()
	if rs := dnsRun(e, newIP, ModePing, hzA); rs[0].State != wire.StateApplied || e.emu.TotalCalls() != 0 {
		t.Fatalf("ping does not look: got %+v, %d calls", rs[0], e.emu.TotalCalls())
	}
	if rs := dnsRun(e, newIP, ModeTimer, hzA); rs[0].State != wire.StateApplied {
		t.Fatalf("timer: got %+v", rs[0])
	}
	if recs := e.emu.Records("example.com"); recs[0].Value != newIP || recs[0].ID != id {
		t.Fatalf("drift not repaired: got %+v", recs)
	}
}

func TestDNSDryRun(t *testing.T) {
	e := newEnv(t, nil)
	e.r.DryRun = true
	e.emu.PutRecord("example.com", "hz.vpn", "A", oldIP, 600)
	rs := dnsRun(e, newIP, ModePing, hzA, DNSRecord{Zone: "example.com", RR: "new", Type: "A"})
	for _, r := range rs {
		if r.State != wire.StateDryRun {
			t.Fatalf("got %+v", r)
		}
	}
	if e.emu.MutatingCalls() != 0 {
		t.Fatalf("dry run made mutating calls: %v", e.emu.CallLog())
	}
	if l := e.logs.String(); !strings.Contains(l, "UpdateDomainRecord") || !strings.Contains(l, "AddDomainRecord") || !strings.Contains(l, newIP) {
		t.Fatalf("dry-run log: %s", l)
	}
}

func TestDNSThrottledThenApplied(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.Throttle("AddDomainRecord", 2)
	if rs := dnsRun(e, newIP, ModePing, hzA); rs[0].State != wire.StateApplied || e.emu.Calls("AddDomainRecord") != 3 {
		t.Fatalf("got %+v, calls %v", rs[0], e.emu.CallLog())
	}
}
