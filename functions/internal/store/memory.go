package store

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Memory is the in-process store for local runs and logic tests. It has the same semantics
// as Redis (the contract tests run against both) but keeps nothing across restarts.
type Memory struct {
	opt Options

	mu      sync.Mutex
	sites   map[string]Record // by slot
	version int64
	changed map[string]int64 // the fleet version of each slot's last change
	events  []Event          // oldest first
	seq     int64
	nonces  map[string]time.Time // expiry
	fails   map[FailKey]failCount
	stale   map[string]time.Time  // by slot
	handled map[string]netip.Addr // slot:family → address last handled
	leases  map[string]lease      // slot:family → the address being handled
}

type lease struct {
	addr    netip.Addr
	expires time.Time
}

type failCount struct {
	n       int
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory(opt Options) *Memory {
	return &Memory{opt: opt, sites: map[string]Record{}, nonces: map[string]time.Time{}, fails: map[FailKey]failCount{},
		stale: map[string]time.Time{}, changed: map[string]int64{}, handled: map[string]netip.Addr{}, leases: map[string]lease{}}
}

func (m *Memory) failuresLocked(k FailKey, now time.Time) int {
	f, ok := m.fails[k]
	if !ok || !now.Before(f.expires) {
		delete(m.fails, k)
		return 0
	}
	return f.n
}

// Ping implements Store.
func (m *Memory) Ping(ctx context.Context, in PingInput) (PingResult, error) {
	if err := ctx.Err(); err != nil {
		return PingResult{}, unavailable(err)
	}
	now := m.opt.Now()
	ms := time.UnixMilli(now.UnixMilli()).UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	if in.Nonce != "" {
		for k, exp := range m.nonces {
			if !now.Before(exp) {
				delete(m.nonces, k)
			}
		}
		k := string(in.Site) + ":" + in.Nonce
		if _, used := m.nonces[k]; used {
			return PingResult{}, ErrReplay
		}
		m.nonces[k] = now.Add(NonceTTL)
	}
	sl := slot(in.Site, in.Line)
	r := m.sites[sl]
	r.Site, r.Line = in.Site, in.Line
	addr := in.Addr.Unmap()
	ip, seen, changed := &r.IPv4, &r.Seen4, &r.Changed4
	if Family(addr) == "6" {
		ip, seen, changed = &r.IPv6, &r.Seen6, &r.Changed6
	}
	res := PingResult{Previous: *ip, PrevSeen: r.SeenAt()}
	if *ip != addr {
		res.Changed = true
		*ip, *changed = addr, ms
		m.version++
		m.changed[sl] = m.version
		m.appendLocked(Event{At: ms, Kind: EventAddressChanged, Site: in.Site, Line: in.Line, Family: wire.FamilyOf(addr).String(),
			IP: addr.String(), Previous: wire.AddrString(res.Previous)})
	}
	*seen = ms
	m.sites[sl] = r
	res.Self, res.Version = r, m.version
	hf := sl + ":" + Family(addr)
	announced, tracked := m.handled[hf]
	if !tracked {
		// As in the Redis store: an address the site already had counts as handled.
		announced = res.Previous
		if !res.Changed {
			announced = addr
		}
		m.handled[hf] = announced
	}
	res.Announced = announced
	if l, held := m.leases[hf]; announced != addr && (!held || l.addr != addr || !now.Before(l.expires)) {
		m.leases[hf] = lease{addr: addr, expires: now.Add(m.opt.HandleLease)}
		res.Handle = true
	}
	// The memory store knows every change since it started: any since up to the version
	// is served.
	res.Delta = in.Delta && in.Since >= 0 && in.Since <= m.version
	res.Peers = make([]Record, 0, len(in.Peers))
	for _, p := range in.Peers {
		recent := m.changed[string(p)] > in.Since
		for _, l := range in.Lines[p] {
			recent = recent || m.changed[slot(p, l)] > in.Since
		}
		if res.Delta && !recent {
			continue
		}
		r := m.sites[string(p)]
		r.Site = p
		for _, l := range in.Lines[p] {
			lr := m.sites[slot(p, l)]
			lr.Site, lr.Line = p, l
			r.Lines = append(r.Lines, lr)
		}
		res.Peers = append(res.Peers, r)
	}
	return res, nil
}

func (m *Memory) appendLocked(e Event) {
	m.seq++
	e.ID = strconv.FormatInt(e.At.UnixMilli(), 10) + "-" + strconv.FormatInt(m.seq, 10)
	m.events = append(m.events, e)
	if over := int64(len(m.events)) - m.opt.EventsMax; over > 0 {
		m.events = slices.Delete(m.events, 0, int(over))
	}
}

// Handled implements Store.
func (m *Memory) Handled(ctx context.Context, st site.Name, line site.Line, addr netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	addr = addr.Unmap()
	hf := slot(st, line) + ":" + Family(addr)
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, held := m.leases[hf]; held && l.addr == addr {
		delete(m.leases, hf)
	}
	r := m.sites[slot(st, line)]
	cur := r.IPv4
	if Family(addr) == "6" {
		cur = r.IPv6
	}
	if cur == addr {
		m.handled[hf] = addr
	}
	return nil
}

// Failures implements Store.
func (m *Memory) Failures(ctx context.Context, k FailKey) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	now := m.opt.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failuresLocked(k, now), nil
}

// AuthFailure implements Store.
func (m *Memory) AuthFailure(ctx context.Context, k FailKey) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	now := m.opt.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.failuresLocked(k, now)
	f := m.fails[k]
	if n == 0 {
		f.expires = now.Add(m.opt.FailureWindow)
	}
	f.n = n + 1
	m.fails[k] = f
	return f.n, nil
}

// Fleet implements Store.
func (m *Memory) Fleet(ctx context.Context) ([]Record, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs := make([]Record, 0, len(m.sites))
	for _, r := range m.sites {
		recs = append(recs, r)
	}
	sortRecords(recs)
	return recs, m.version, nil
}

// Events implements Store.
func (m *Memory) Events(ctx context.Context, n int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Event, 0, min(n, len(m.events)))
	for i := len(m.events) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, m.events[i])
	}
	return out, nil
}

// AppendEvent implements Store.
func (m *Memory) AppendEvent(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = m.opt.Now()
	}
	e.At = time.UnixMilli(e.At.UnixMilli()).UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appendLocked(e)
	return nil
}

// MarkStale implements Store.
func (m *Memory) MarkStale(ctx context.Context, st site.Name, line site.Line, seen time.Time) (bool, error) {
	seen = time.UnixMilli(seen.UnixMilli()).UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.stale[slot(st, line)]; ok && prev.Equal(seen) {
		return false, nil
	}
	m.stale[slot(st, line)] = seen
	return true, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }

func sortRecords(recs []Record) {
	slices.SortFunc(recs, func(a, b Record) int { return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Line, b.Line)) })
}
