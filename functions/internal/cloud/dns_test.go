package cloud

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

func dnsRun(e *env, ip string, mode Mode, recs ...DNSRecord) []Result {
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

func TestDNSTTLRule(t *testing.T) {
	e := newEnv(t, nil)
	short := DNSRecord{Zone: "example.com", RR: "hz", Type: "A", TTL: 60}
	rs := dnsRun(e, newIP, ModePing, short)
	if rs[0].State != wire.StateError || !errors.Is(rs[0].Err, ErrTTL) || e.emu.TotalCalls() != 0 {
		t.Fatalf("TTL 60 on a personal zone: got %+v, %d calls", rs[0], e.emu.TotalCalls())
	}
	if err := short.Validate(); !errors.Is(err, ErrTTL) || !strings.Contains(err.Error(), "minimum 600") {
		t.Fatalf("Validate: got %v", err)
	}
	ent := DNSRecord{Zone: "ent.example.net", RR: "hz", Type: "A", TTL: 60, Enterprise: true}
	if rs := dnsRun(e, newIP, ModePing, ent); rs[0].State != wire.StateApplied {
		t.Fatalf("TTL 60 on an enterprise zone: got %+v", rs[0])
	}
	if recs := e.emu.Records("ent.example.net"); len(recs) != 1 || recs[0].TTL != 60 {
		t.Fatalf("got %+v", recs)
	}
	// The API enforces the rule too when the config is wrong about the edition.
	lying := DNSRecord{Zone: "example.com", RR: "hz", Type: "A", TTL: 60, Enterprise: true}
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
