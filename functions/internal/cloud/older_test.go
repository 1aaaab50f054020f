package cloud

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// TestTimerNeverMovesBack: after a lossy failover (the store's address rolled back, the
// target state kept) the timer refuses to move DNS or VPN back to the older address; once
// the office pings that address again (it really went back) the timer moves it. After a
// restore (store and target state both rolled back, the cloud newer) the timer changes the
// cloud back only once a ping after the drift was found confirms the address.
func TestTimerNeverMovesBack(t *testing.T) {
	e := newEnv(t, nil)
	rec := DNSRecord{Zone: "example.com", RR: "hz", Type: "A"}
	rec.SetDefaults()
	targets := Targets{DNS: []DNSRecord{rec}, VPN: []VPNConn{vpnTarget}}
	at := func(ip string, seen time.Time) Addrs { return Addrs{IPv4: netip.MustParseAddr(ip), Seen4: seen} }
	check := func(step string, rs []Result, state wire.State, want error) {
		t.Helper()
		for _, r := range rs {
			if r.State != state || (want != nil && !errors.Is(r.Err, want)) {
				t.Fatalf("%s: %s %s (%v), want %s %v", step, r.Kind, r.State, r.Err, state, want)
			}
		}
	}
	value := func() string { return e.emu.Records("example.com")[0].Value }

	seenOld := e.clock.Now() // the office last reported oldIP now…
	e.clock.Advance(time.Minute)
	// …then moved to newIP: its ping applies both targets.
	check("ping", e.r.Reconcile(e.ctx(10*time.Minute), v4(newIP), targets, ModePing), wire.StateApplied, nil)
	e.checkRepointed(newIP)

	// Lossy failover: the store says oldIP, last seen before newIP was applied.
	e.clock.Advance(10 * time.Minute)
	e.emu.ResetCalls()
	check("timer after failover", e.r.Reconcile(e.ctx(10*time.Minute), at(oldIP, seenOld), targets, ModeTimer), wire.StateError, ErrOlderAddress)
	if n := e.emu.MutatingCalls(); n != 0 || value() != newIP {
		t.Fatalf("timer after failover made %d mutating calls; record %s", n, value())
	}
	// The office really is back at oldIP: its next ping is seen after newIP was applied.
	check("timer after the office's ping", e.r.Reconcile(e.ctx(10*time.Minute), at(oldIP, e.clock.Now()), targets, ModeTimer), wire.StateApplied, nil)
	if value() != oldIP {
		t.Fatalf("record %s, want %s", value(), oldIP)
	}
	e.checkRepointed(oldIP)

	// Restore: someone (a restored backup's timer, here by hand) finds the cloud at newIP
	// while the state says applied at oldIP, last seen long ago.
	e.clock.Advance(10 * time.Minute)
	e.emu.EditRecord(e.emu.Records("example.com")[0].ID, newIP)
	seen := e.clock.Now().Add(-5 * time.Minute)
	e.emu.ResetCalls()
	rs := e.r.Reconcile(e.ctx(10*time.Minute), at(oldIP, seen), Targets{DNS: []DNSRecord{rec}}, ModeTimer)
	check("timer after restore", rs, wire.StateError, ErrUnconfirmed)
	if e.emu.MutatingCalls() != 0 || value() != newIP {
		t.Fatalf("changed back without a confirming ping: record %s", value())
	}
	check("again, same sighting", e.r.Reconcile(e.ctx(10*time.Minute), at(oldIP, seen), Targets{DNS: []DNSRecord{rec}}, ModeTimer), wire.StateError, ErrUnconfirmed)
	e.clock.Advance(time.Second)
	check("after a ping", e.r.Reconcile(e.ctx(10*time.Minute), at(oldIP, e.clock.Now()), Targets{DNS: []DNSRecord{rec}}, ModeTimer), wire.StateApplied, nil)
	if value() != oldIP {
		t.Fatalf("record %s, want %s", value(), oldIP)
	}
}
