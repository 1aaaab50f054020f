package api

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// appendPing appends r as encoding/json writes it, without reflection: the ping answer is
// the one a fleet asks for every few seconds, and json.Marshal spends more on it than the
// rest of the handler's own work. ok is false for what only encoding/json does right (a
// string to escape, a time outside years 0–9999); the caller then uses json.Marshal.
// TestAppendPingIsJSON holds the two to the same bytes and to every field of the types.
func appendPing(b []byte, r *wire.PingResponse) (_ []byte, ok bool) {
	e := encoder{b: b, ok: true}
	e.str(`{"site":`, r.Site)
	e.addr(`,"ip":`, r.IP)
	e.raw(`,"family":"`)
	e.raw(r.Family.String())
	e.raw(`"`)
	e.bool(`,"changed":`, r.Changed)
	e.addr(`,"previous_ip":`, r.PreviousIP)
	e.time(`,"seen_at":`, r.SeenAt)
	e.raw(`,"fleet_version":`)
	e.b = strconv.AppendInt(e.b, r.FleetVersion, 10)
	e.bool(`,"delta":`, r.Delta)
	e.raw(`,"peers":`)
	if r.Peers == nil {
		e.raw("null")
	} else {
		e.raw("[")
		for i := range r.Peers {
			if i > 0 {
				e.raw(",")
			}
			e.peer(&r.Peers[i])
		}
		e.raw("]")
	}
	e.raw(`,"targets":`)
	if r.Targets == nil {
		e.raw("null")
	} else {
		e.raw("[")
		for i, t := range r.Targets {
			if i > 0 {
				e.raw(",")
			}
			e.str(`{"kind":`, string(t.Kind))
			e.str(`,"name":`, t.Name)
			e.str(`,"state":`, string(t.State))
			e.addr(`,"ip":`, t.IP)
			if t.Error != "" {
				e.str(`,"error":`, t.Error)
			}
			e.raw("}")
		}
		e.raw("]")
	}
	if r.Line != "" {
		e.str(`,"line":`, r.Line)
	}
	e.raw("}")
	return e.b, e.ok
}

func (e *encoder) peer(p *wire.Peer) {
	e.str(`{"site":`, p.Site)
	e.addr(`,"ipv4":`, p.IPv4)
	e.addr(`,"ipv6":`, p.IPv6)
	if !p.ChangedAt.IsZero() {
		e.time(`,"changed_at":`, p.ChangedAt)
	}
	if !p.SeenAt.IsZero() {
		e.time(`,"seen_at":`, p.SeenAt)
	}
	e.bool(`,"stale":`, p.Stale)
	if len(p.Lines) > 0 {
		e.raw(`,"lines":[`)
		for i, l := range p.Lines {
			if i > 0 {
				e.raw(",")
			}
			e.str(`{"name":`, l.Name)
			e.addr(`,"ipv4":`, l.IPv4)
			e.addr(`,"ipv6":`, l.IPv6)
			if !l.SeenAt.IsZero() {
				e.time(`,"seen_at":`, l.SeenAt)
			}
			if !l.ChangedAt.IsZero() {
				e.time(`,"changed_at":`, l.ChangedAt)
			}
			e.bool(`,"stale":`, l.Stale)
			e.raw("}")
		}
		e.raw("]")
	}
	e.raw("}")
}

// encoder appends JSON; ok turns false on a value it leaves to encoding/json.
type encoder struct {
	b  []byte
	ok bool
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }

// str appends key and s quoted, when s needs no escaping (printable ASCII without ", \,
// and the <, >, & encoding/json escapes for HTML).
func (e *encoder) str(key, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e.ok = false
			return
		}
	}
	e.b = append(append(append(append(e.b, key...), '"'), s...), '"')
}

func (e *encoder) bool(key string, v bool) {
	e.b = strconv.AppendBool(append(e.b, key...), v)
}

// addr appends a as netip.Addr's MarshalText does: "" for the zero Addr. A zone, any
// text, is left to encoding/json.
func (e *encoder) addr(key string, a netip.Addr) {
	if a.Zone() != "" {
		e.ok = false
		return
	}
	e.b = append(append(e.b, key...), '"')
	if a.IsValid() {
		e.b = a.AppendTo(e.b)
	}
	e.b = append(e.b, '"')
}

// time appends t as time.Time's MarshalJSON does (AppendText's RFC 3339 with
// nanoseconds, quoted); a time RFC 3339 cannot hold is left to encoding/json.
func (e *encoder) time(key string, t time.Time) {
	b, err := t.AppendText(append(append(e.b, key...), '"'))
	if err != nil {
		e.ok = false
		return
	}
	e.b = append(b, '"')
}

// marshalPing is r's JSON: appendPing's, or encoding/json's when appendPing leaves it.
func marshalPing(r *wire.PingResponse) ([]byte, error) {
	if b, ok := appendPing(make([]byte, 0, 256+160*len(r.Peers)), r); ok {
		return b, nil
	}
	return json.Marshal(r)
}
