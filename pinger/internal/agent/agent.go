// Package agent runs the pinger's cycle: ping the function over each line and address
// family, compare the answer with the state file, apply each change through the router driver and
// save the state only for the changes that succeeded. Watch repeats cycles with jitter and
// exponential backoff until its context ends.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/pinger/internal/state"
	"github.com/ppter/ppter/shared/ipclass"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Errors of a cycle.
var (
	// ErrBadAnswer means the function's answer did not make sense (wrong site, bad address).
	ErrBadAnswer = errors.New("unexpected ping answer")
	// ErrState means the state file could not be read or written.
	ErrState = errors.New("state file")
)

// Pinger sends one ping over one address family. *client.Client implements it.
// since, when not nil, asks for a delta answer: the peers changed after that fleet version.
type Pinger interface {
	Ping(ctx context.Context, since *int64) (wire.PingResponse, error)
}

// Ping pairs a Pinger with its line and family.
type Ping struct {
	// Line is the office's line the Pinger reports (empty: the site's default line).
	Line   site.Line
	Family wire.Family
	Pinger Pinger
	// BindAddress is the ping's source address, when set: a public one that differs from
	// the answer's address is warned of (a NAT or route mismatch).
	BindAddress netip.Addr
	// Endpoint names the function the Pinger talks to (its URL): the fleet version the
	// state keeps for the next ping's since belongs to it.
	Endpoint string
}

// Options configure an Agent.
type Options struct {
	Site      site.Name
	Pings     []Ping
	Driver    router.Driver
	StatePath string
	DryRun    bool
	// AllowPrivatePeers accepts private, CGNAT and other special-purpose peer addresses
	// (labs); see checkPeerAddr.
	AllowPrivatePeers bool
	// MaxPeers caps the peer changes applied in one cycle (DefaultMaxPeers when zero);
	// the rest are applied by the next cycles.
	MaxPeers int
	// CycleTimeout bounds one whole cycle, pings and driver calls (DefaultCycleTimeout
	// when zero): a hung router cannot hold the lock and freeze --watch.
	CycleTimeout time.Duration
	// NetChanges, when not nil, receives a value when the host's addresses or default
	// route change (netwatch.Watch): Watch then pings without waiting for the interval.
	NetChanges <-chan struct{}
	// Debounce is how long Watch lets network changes settle (DefaultDebounce when zero).
	Debounce time.Duration
	Log      *slog.Logger
	// Out receives the dry-run report.
	Out io.Writer
	Now func() time.Time
}

// Agent runs cycles.
type Agent struct {
	o Options
	// warned holds the mapped peer lines already warned of as missing from the answers;
	// warnedSame and warnedBind the answered addresses warnLines warned of.
	warned                 map[site.Peer]bool
	warnedSame, warnedBind map[netip.Addr]bool
}

// New returns an Agent.
func New(o Options) *Agent {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = DefaultMaxPeers
	}
	if o.CycleTimeout <= 0 {
		o.CycleTimeout = DefaultCycleTimeout
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	return &Agent{o: o, warned: map[site.Peer]bool{}, warnedSame: map[netip.Addr]bool{}, warnedBind: map[netip.Addr]bool{}}
}

// Result summarises one cycle.
type Result struct {
	Applied []router.Change
	Pending []router.Change // found but not applied (dry run)
	Failed  []router.Change
}

// DefaultCycleTimeout bounds a cycle when Options.CycleTimeout is zero.
const DefaultCycleTimeout = 2 * time.Minute

// ErrCycleTimeout means the cycle ran out of its CycleTimeout; what was applied by then is
// saved, the rest is retried next cycle.
var ErrCycleTimeout = errors.New("cycle timed out")

// Cycle runs one cycle, bounded by CycleTimeout. Its error joins every failure (ping or
// driver); changes that were applied are saved even when others failed, and failed ones
// are retried next cycle. A line whose ping fails does not stop the others: their answers
// are applied, and the error (so the exit code) says which line failed.
func (a *Agent) Cycle(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, a.o.CycleTimeout, fmt.Errorf("%w after %s", ErrCycleTimeout, a.o.CycleTimeout))
	defer cancel()
	res, err := a.cycle(ctx)
	if errors.Is(context.Cause(ctx), ErrCycleTimeout) {
		err = errors.Join(context.Cause(ctx), err)
	}
	return res, err
}

// cycle pings first, then reads the state file: a state file that cannot be read never
// keeps the office from reporting its address.
func (a *Agent) cycle(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	var answers []answer
	since := a.peekState()
	for _, p := range a.o.Pings {
		ans, err := a.ping(ctx, p, since.Since(state.FleetKey(p.Endpoint, p.Family)))
		if err != nil {
			errs = append(errs, fmt.Errorf("ping%s over %s: %w", lineLabel(p.Line), p.Family, err))
			continue
		}
		answers = append(answers, ans)
	}
	if len(answers) == 0 {
		return res, errors.Join(errs...)
	}
	a.warnLines(answers)
	st, err := a.loadState()
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	applied := 0 // peer changes tried this cycle, against MaxPeers
	// complete holds, per fleet key, whether every change of its answers was applied: then
	// the version of its answer is the next since. The lines of one office share a key.
	complete := map[string]bool{}
	for _, ans := range answers {
		complete[ans.fleetKey] = true
	}
	// apply applies c, if the driver wants it, and reports whether it is done with.
	apply := func(c router.Change) bool {
		if !a.o.Driver.Wants(c) {
			return true
		}
		if !c.Self && applied >= a.o.MaxPeers {
			a.o.Log.Warn("too many peer changes for one cycle; the rest wait for the next", "change", c.String(), "max_peers", a.o.MaxPeers)
			return false
		}
		if !c.Self {
			applied++
		}
		if a.o.DryRun {
			fmt.Fprintf(a.o.Out, "would apply %s\n", c)
			res.Pending = append(res.Pending, c)
			return false
		}
		if err := a.o.Driver.Apply(ctx, c); err != nil {
			a.o.Log.Error("apply failed", "change", c.String(), "err", err)
			res.Failed = append(res.Failed, c)
			errs = append(errs, err)
			return false
		}
		a.o.Log.Info("applied", "change", c.String())
		res.Applied = append(res.Applied, c)
		if c.Self {
			st.SetSelf(c.Line, c.Family, c.New)
		} else {
			st.SetPeer(c.Ref(), c.Family, c.New)
		}
		return true
	}
	// The office's own addresses first, every line's: a peer change's SelfIP may be any
	// line's new address.
	for _, ans := range answers {
		if c, ok := a.selfChange(ans, st); ok && !apply(c) {
			complete[ans.fleetKey] = false
		}
	}
	// Then the peers, once per fleet: every line's answer lists the same peers with all
	// their lines.
	fleetMoved := false
	for _, ans := range fleets(answers) {
		for _, c := range a.changes(ans, answers, st) {
			if !apply(c) {
				complete[ans.fleetKey] = false
			}
		}
		if complete[ans.fleetKey] && st.SetSince(ans.fleetKey, ans.version) {
			fleetMoved = true
		}
	}
	if len(res.Applied) > 0 || fleetMoved {
		st.UpdatedAt = a.o.Now().UTC()
		if err := state.Save(a.o.StatePath, st); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrState, err))
		}
	}
	if len(res.Applied) == 0 && len(res.Failed) == 0 && len(errs) == 0 && !a.o.DryRun {
		a.o.Log.Debug("nothing changed")
	}
	return res, errors.Join(errs...)
}

// loadState reads the state file. A corrupt one (empty or truncated after a power cut on
// a router's flash, say) is moved aside with an error in the log, and the cycle goes on
// from an empty state: everything is applied again, and drivers skip router objects that
// already hold the address. A dry run leaves the file where it is.
func (a *Agent) loadState() (*state.State, error) {
	st, err := state.Load(a.o.StatePath, a.o.Site)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, state.ErrCorrupt) {
		return nil, fmt.Errorf("%w: %w", ErrState, err)
	}
	if a.o.DryRun {
		a.o.Log.Error("state file unreadable; this dry run starts from an empty state", "err", err)
		return state.New(a.o.Site), nil
	}
	moved, merr := state.MoveAside(a.o.StatePath, a.o.Now())
	if merr != nil {
		return nil, fmt.Errorf("%w: %w; moving it aside: %w", ErrState, err, merr)
	}
	a.o.Log.Error("state file unreadable; moved aside, continuing from an empty state", "err", err, "moved_to", moved)
	return state.New(a.o.Site), nil
}

// peekState reads the state file for the pings' since; a file that cannot be read gives
// none (full answers), and loadState deals with it after the pings.
func (a *Agent) peekState() *state.State {
	st, err := state.Load(a.o.StatePath, a.o.Site)
	if err != nil {
		return state.New(a.o.Site)
	}
	return st
}

// lineLabel is " of line L" for a named line, "" for none.
func lineLabel(l site.Line) string {
	if l == "" {
		return ""
	}
	return " of line " + string(l)
}

// answer is a checked ping answer.
type answer struct {
	line     site.Line
	family   wire.Family
	self     netip.Addr
	bind     netip.Addr  // the ping's bind address, if any
	peers    []wire.Peer // sorted by site, no name twice; only the changed ones in a delta
	version  int64
	delta    bool // peers lists only the peers changed after the ping's since
	fleetKey string
}

// ping pings once and checks the answer. An answer listing a peer twice is refused whole.
// A delta answer lists only the peers that changed after since: the others keep the
// state they have.
func (a *Agent) ping(ctx context.Context, p Ping, since *int64) (answer, error) {
	resp, err := p.Pinger.Ping(ctx, since)
	if err != nil {
		return answer{}, err
	}
	if resp.Site != string(a.o.Site) {
		return answer{}, fmt.Errorf("%w: answer is for site %q", ErrBadAnswer, resp.Site)
	}
	if p.Line != "" && resp.Line != string(p.Line) {
		return answer{}, fmt.Errorf("%w: answer is for line %q, not %q", ErrBadAnswer, resp.Line, p.Line)
	}
	self, err := addrOf(resp.IP, p.Family)
	if err != nil {
		return answer{}, fmt.Errorf("%w: own address: %v", ErrBadAnswer, err)
	}
	a.o.Log.Debug("pinged", "line", string(p.Line), "family", p.Family.String(), "ip", self.String(), "changed", resp.Changed, "peers", len(resp.Peers), "delta", resp.Delta)
	peers := slices.Clone(resp.Peers)
	slices.SortFunc(peers, func(x, y wire.Peer) int { return strings.Compare(x.Site, y.Site) })
	for i := 1; i < len(peers); i++ {
		if peers[i].Site == peers[i-1].Site {
			return answer{}, fmt.Errorf("%w: peer %q is listed twice", ErrBadAnswer, peers[i].Site)
		}
	}
	return answer{line: p.Line, family: p.Family, self: self, bind: p.BindAddress, peers: peers, version: resp.FleetVersion, delta: resp.Delta, fleetKey: state.FleetKey(p.Endpoint, p.Family)}, nil
}

// selfChange returns the change of the office's address on ans's line, if there is one.
func (a *Agent) selfChange(ans answer, st *state.State) (router.Change, bool) {
	old := st.SelfAddr(ans.line, ans.family)
	if old == ans.self {
		return router.Change{}, false
	}
	return router.Change{Peer: a.o.Site, Line: ans.line, Self: true, Family: ans.family, Old: old, New: ans.self, SelfIP: ans.self, SelfLine: ans.line}, true
}

// fleets returns one answer per fleet key, in the order of the pings: the newest of the
// key's answers (the highest version), a full one before a delta of the same version,
// else the first.
func fleets(answers []answer) []answer {
	var out []answer
	at := map[string]int{}
	for _, ans := range answers {
		i, ok := at[ans.fleetKey]
		if !ok {
			at[ans.fleetKey] = len(out)
			out = append(out, ans)
			continue
		}
		if o := out[i]; ans.version > o.version || ans.version == o.version && o.delta && !ans.delta {
			out[i] = ans
		}
	}
	return out
}

// changes returns the peer changes of ans against st: each peer's default line and its
// named lines, peers by name. A peer whose address fails checkPeerAddr is skipped with an
// error in the log. answers are the cycle's, for each change's SelfIP.
func (a *Agent) changes(ans answer, answers []answer, st *state.State) []router.Change {
	family := ans.family
	var changes []router.Change
	for _, peer := range ans.peers {
		name, err := site.Parse(peer.Site)
		if err != nil {
			a.o.Log.Warn("ignoring peer with a bad name", "err", err)
			continue
		}
		if name == a.o.Site {
			continue
		}
		if peer.Stale && peer.Addr(family).IsValid() {
			a.o.Log.Warn("peer is stale", "peer", string(name), "seen_at", peer.SeenAt)
		}
		lines := []peerLine{{"", peer.Addr(family)}} // the default line, then the named ones
		for _, l := range peer.Lines {
			line, err := site.ParseLine(l.Name)
			if err != nil {
				a.o.Log.Warn("ignoring peer line with a bad name", "peer", string(name), "err", err)
				continue
			}
			pl := peerLine{line, l.IPv4}
			if family.Is(wire.IPv6) {
				pl.addr = l.IPv6
			}
			lines = append(lines, pl)
		}
		a.warnUnlisted(name, lines)
		for _, l := range lines {
			if c, ok := a.peerChange(site.Peer{Site: name, Line: l.line}, l.addr, ans, answers, st); ok {
				changes = append(changes, c)
			}
		}
	}
	return changes
}

// peerLine is a line of a peer's answer and its address in the answer's family.
type peerLine struct {
	line site.Line
	addr netip.Addr
}

// peerChange returns the change of peer line ref to raw, if there is one to apply.
func (a *Agent) peerChange(ref site.Peer, raw netip.Addr, ans answer, answers []answer, st *state.State) (router.Change, bool) {
	if !raw.IsValid() {
		return router.Change{}, false // no address in this family (yet)
	}
	ip, err := addrOf(raw, ans.family)
	if err != nil {
		a.o.Log.Warn("ignoring peer address", "peer", ref.String(), "err", err)
		return router.Change{}, false
	}
	for _, o := range answers { // ans among them: the office's own address on every line
		if o.family != ans.family {
			continue
		}
		if err := checkPeerAddr(ip, o.self, a.o.AllowPrivatePeers); err != nil {
			a.o.Log.Error("ignoring peer", "peer", ref.String(), "err", err)
			return router.Change{}, false
		}
	}
	old := st.Peer(ref, ans.family)
	if old == ip {
		return router.Change{}, false
	}
	c := router.Change{Peer: ref.Site, Line: ref.Line, Family: ans.family, Old: old, New: ip}
	c.SelfLine, c.SelfIP = a.selfFor(ref.Line, ans.family, answers, st)
	return c, true
}

// selfFor returns the office's line a change of a peer's line l is made from — l itself
// when the office has a line of that name, else the office's default line (its first) —
// and the office's address on it in family: this cycle's answer's, or the state's when
// that line's ping failed.
func (a *Agent) selfFor(l site.Line, family wire.Family, answers []answer, st *state.State) (site.Line, netip.Addr) {
	own := a.o.Pings[0].Line
	for _, p := range a.o.Pings {
		if p.Line == l {
			own = l
		}
	}
	for _, ans := range answers {
		if ans.line == own && ans.family == family {
			return own, ans.self
		}
	}
	return own, st.SelfAddr(own, family)
}

// warnLines warns, once per address, of a ping that left by the wrong line: two of the
// office's lines answered with the same address of a family, or a line's public bind
// address is not the address its answer reports.
func (a *Agent) warnLines(answers []answer) {
	for i, x := range answers {
		if b := x.bind; x.family.Of(b) && ipclass.Of(b) <= ipclass.Documentation && b != x.self && warnOnce(a.warnedBind, x.self) {
			a.o.Log.Warn("a line's answer is not from its bind address: a NAT or route mismatch", "line", string(x.line), "bind_address", b.String(), "ip", x.self.String())
		}
		for _, y := range answers[:i] {
			if y.line != x.line && y.self == x.self && warnOnce(a.warnedSame, x.self) {
				a.o.Log.Warn("two lines answered the same address: one's pings leave by the other, its bind address or interface not routed by its line; add a source rule",
					"lines", string(y.line)+" "+string(x.line), "ip", x.self.String())
			}
		}
	}
}

// warnOnce reports whether ip is not in warned yet, and adds it.
func warnOnce(warned map[netip.Addr]bool, ip netip.Addr) bool {
	if warned[ip] {
		return false
	}
	warned[ip] = true
	return true
}

// warnUnlisted warns, once per process, of each line of peer the driver maps that the
// peer's answer does not list: it gets no address there, as a peer that never pinged.
func (a *Agent) warnUnlisted(peer site.Name, lines []peerLine) {
	m, ok := a.o.Driver.(router.Mapper)
	if !ok {
		return
	}
	for _, ref := range m.Mapped() {
		if ref.Site != peer || a.warned[ref] || slices.ContainsFunc(lines, func(pl peerLine) bool { return pl.line == ref.Line }) {
			continue
		}
		a.warned[ref] = true
		a.o.Log.Warn("a driver mapping names a line the peer does not have; it gets no address", "peer", ref.String(), "lines", len(lines)-1)
	}
}

// addrOf returns ip, unmapped and without zone, when it is of family.
func addrOf(ip netip.Addr, family wire.Family) (netip.Addr, error) {
	ip = ip.Unmap().WithZone("")
	if !family.Of(ip) {
		return netip.Addr{}, fmt.Errorf("%s is not an %s address", wire.AddrString(ip), family)
	}
	return ip, nil
}
