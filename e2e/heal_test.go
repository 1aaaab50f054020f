//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// fnPing is one ping the function answered, as its request log line has it.
type fnPing struct {
	At     time.Time `json:"time"`
	Msg    string    `json:"msg"`
	Route  string    `json:"route"`
	Site   string    `json:"site"`
	Source string    `json:"source"`
	Status int       `json:"status"`
}

// pings returns the pings the function has answered with 200 so far, in log order. It
// reads only the lines logged since its last call.
func (l *lab) pings() []fnPing {
	lines := l.fnLog.linesFrom(l.fnRead)
	l.fnRead += len(lines)
	for _, line := range lines {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"POST /v1/ping"`) {
			continue
		}
		var p fnPing
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.Msg != "request" || p.Route != "POST /v1/ping" || p.Status != 200 {
			continue
		}
		l.fnPings = append(l.fnPings, p)
	}
	return l.fnPings
}

// recorded returns the function's first ping of o from its current WAN address since it
// moved, waiting up to timeout for it to be logged.
func (l *lab) recorded(o *office, timeout time.Duration) (fnPing, bool) {
	var rec fnPing
	_, ok := poll(timeout, 100*time.Millisecond, func() bool {
		for _, p := range l.pings() {
			if p.Site == o.site && p.Source == o.wan.String() && p.At.After(o.movedAt) {
				rec = p
				return true
			}
		}
		return false
	})
	return rec, ok
}

// nthPingAfter returns o's n-th ping answered after t (n ≥ 1), waiting up to timeout.
func (l *lab) nthPingAfter(o *office, t time.Time, n int, timeout time.Duration) (fnPing, bool) {
	var nth fnPing
	_, ok := poll(timeout, 100*time.Millisecond, func() bool {
		i := 0
		for _, p := range l.pings() {
			if p.Site == o.site && p.At.After(t) {
				if i++; i == n {
					nth = p
					return true
				}
			}
		}
		return false
	})
	return nth, ok
}

// heals collects a test's heal cases for its SUMMARY line.
type heals struct {
	l       *lab
	name    string
	summary []string
	// probe reports whether traffic passes the tunnel being healed, what names that
	// traffic in the log; nil and "": l.lanPing, LAN-to-LAN traffic.
	probe func() bool
	what  string
}

// report logs the SUMMARY line that the README's heal-time table is built from.
func (h *heals) report() {
	h.l.t.Logf("SUMMARY %s heal times (interval %s): %s", h.name, interval, strings.Join(h.summary, " "))
}

// measure waits until traffic flows again (LAN to LAN unless h.probe says otherwise) after
// movers (offices, or one line of an office) moved and returns how long that took from
// now. A heal is: each mover's next ping records its new address, the other office's next
// ping after that (its "learning ping") learns it and its driver re-points the tunnel. measure fails the case when the heal took longer than that, in two
// ways that hold whatever the machine's load:
//   - a lost cycle: traffic flows only after the other office's second ping since the
//     mover's address was recorded;
//   - a slow re-point: traffic flows more than `handshake` after the learning ping (a
//     driver re-points and a tunnel handshakes in well under a second here; a driver that
//     waits on the address the peer has left takes seconds).
//
// The timeout only catches a heal that never comes.
func (h *heals) measure(name string, timeout time.Duration, movers ...*office) time.Duration {
	l, t := h.l, h.l.t
	t.Helper()
	start := time.Now()
	probe, what := h.probe, h.what
	if probe == nil {
		probe, what = l.lanPing, "LAN-to-LAN traffic"
	}
	d, ok := poll(timeout, 250*time.Millisecond, probe)
	if !ok {
		t.Errorf("%s: %s did not flow again within %s", name, what, timeout)
		h.summary = append(h.summary, name+"=no-heal-in-"+timeout.String())
		return d
	}
	healedAt := start.Add(d)
	at := func(p fnPing) string { return fmt.Sprintf("+%.1fs", p.At.Sub(start).Seconds()) }
	var learned, second fnPing // the latest learning ping and second ping over all movers
	var why string
	for _, m := range movers {
		rec, ok := l.recorded(m, 5*time.Second)
		if !ok {
			t.Errorf("%s: traffic flows again but the function never recorded %s at %s", name, m.site, m.wan)
			continue
		}
		for _, o := range []*office{l.a, l.b} {
			if o.site == m.site {
				continue // m may be one line of o
			}
			p1, ok1 := l.nthPingAfter(o, rec.At, 1, 4*interval)
			p2, ok2 := l.nthPingAfter(o, rec.At, 2, 4*interval)
			if !ok1 || !ok2 {
				t.Errorf("%s: %s did not ping twice within %s after %s's new address was recorded", name, o.site, 4*interval, m.site)
				continue
			}
			if p1.At.After(learned.At) {
				learned, second = p1, p2
				why = fmt.Sprintf("%s recorded at %s, %s learned it at %s, next ping at %s", m.site, at(rec), o.site, at(p1), at(p2))
			}
		}
	}
	switch {
	case learned.At.IsZero():
	case healedAt.After(second.At):
		t.Errorf("%s: healed at +%.1fs (%s): a ping cycle was lost", name, d.Seconds(), why)
	case healedAt.Sub(learned.At) > handshake:
		t.Errorf("%s: healed at +%.1fs (%s): the re-point took %.1fs after the learning ping, want ≤ %s",
			name, d.Seconds(), why, healedAt.Sub(learned.At).Seconds(), handshake)
	default:
		t.Logf("%s: %s flows again after %.1fs (%s)", name, what, d.Seconds(), why)
	}
	h.summary = append(h.summary, fmt.Sprintf("%s=%.1fs", name, d.Seconds()))
	return d
}
