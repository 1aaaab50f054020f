// Package fakefn is a stand-in for the ppter function's POST /v1/ping, for the pinger's
// tests. It keeps state like the real one — each site's addresses per line and family, the
// nonces seen — verifies every signature with shared/auth and refuses bad, stale or replayed
// requests, and answers anything it does not know with an error and a test failure.
package fakefn

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Server is the fake function.
type Server struct {
	*httptest.Server
	t      testing.TB
	now    func() time.Time
	offset atomic.Int64 // nanoseconds added to now: the fake's clock is off (SetClockOffset)

	mu      sync.Mutex
	sites   map[site.Name]*siteState
	nonces  map[string]bool
	fail    int
	failErr string
	pings   int
	refused int
	version int64    // the fleet version: one more at each address change
	sinces  []*int64 // the since of each ping
}

type siteState struct {
	secret []byte
	lines  []site.Line // declared, default first; none: one unnamed line
	line   map[site.Line]*lineState
}

type lineState struct {
	ipv4, ipv6 netip.Addr
	source     netip.Addr // when valid, replaces the connection's address (tests "move" a site)
	changedAt  time.Time
	changedVer int64 // the fleet version of the last change
}

// of returns the state of line l ("" the default line), or nil for a line not declared.
func (st *siteState) of(l site.Line) *lineState {
	if l == "" && len(st.lines) > 0 {
		l = st.lines[0]
	}
	return st.line[l]
}

// changedVer is the fleet version of the site's last change on any line.
func (st *siteState) changedVer() int64 {
	var v int64
	for _, ls := range st.line {
		v = max(v, ls.changedVer)
	}
	return v
}

// New starts a fake function knowing the given sites and secrets. now may be nil.
func New(t testing.TB, secrets map[site.Name]string, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{t: t, now: now, sites: map[site.Name]*siteState{}, nonces: map[string]bool{}}
	for n, sec := range secrets {
		s.sites[n] = &siteState{secret: []byte(sec), line: map[site.Line]*lineState{"": {}}}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetClockOffset puts the fake's clock d away from now's (d > 0: ahead), as if the office's
// clock were d behind: the signatures' timestamps, the Date header and the error objects'
// server_time all follow it.
func (s *Server) SetClockOffset(d time.Duration) { s.offset.Store(int64(d)) }

func (s *Server) clock() time.Time { return s.now().Add(time.Duration(s.offset.Load())) }

// DeclareLines gives site n the lines listed (its `lines:`), the first its default line,
// forgetting its addresses.
func (s *Server) DeclareLines(n site.Name, lines ...site.Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[n]
	st.lines, st.line = lines, map[site.Line]*lineState{}
	for _, l := range lines {
		st.line[l] = &lineState{}
	}
}

// SetAddr records ip as site n's address on its default line, as if n had pinged from it.
func (s *Server) SetAddr(n site.Name, ip string) { s.SetLineAddr(n, "", ip) }

// SetLineAddr records ip as site n's address on line l, as if n had pinged from it.
func (s *Server) SetLineAddr(n site.Name, l site.Line, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(s.sites[n].of(l), netip.MustParseAddr(ip))
}

// Addr returns the address recorded for site n's line l in family f.
func (s *Server) Addr(n site.Name, l site.Line, f wire.Family) netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.sites[n].of(l)
	if f.Is(wire.IPv6) {
		return ls.ipv6
	}
	return ls.ipv4
}

// SetSource makes site n's next pings of its default line appear to come from ip.
func (s *Server) SetSource(n site.Name, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sites[n].of("").source = netip.MustParseAddr(ip)
}

// FailWith makes every following authenticated ping fail with status and code; 0 stops it.
func (s *Server) FailWith(status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.failErr = status, code
}

// Sinces returns the since each answered ping carried (nil for none).
func (s *Server) Sinces() []*int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sinces)
}

// Pings returns how many pings were answered 200.
func (s *Server) Pings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

// Refused returns how many requests were refused for bad credentials or replays.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *Server) record(st *lineState, ip netip.Addr) (changed bool, prev netip.Addr) {
	if ip.Is4() {
		prev, st.ipv4 = st.ipv4, ip
	} else {
		prev, st.ipv6 = st.ipv6, ip
	}
	if prev != ip {
		s.version++
		st.changedAt, st.changedVer = s.clock(), s.version
	}
	return prev != ip, prev
}

// writeErr answers an error as the function does, with its clock in server_time.
func (s *Server) writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.ErrorResponse{Error: wire.ErrorBody{Code: code, Message: msg, ServerTime: wire.ServerTime(s.clock())}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.clock().UTC().Format(http.TimeFormat))
	if r.URL.Path != wire.PathPing {
		s.t.Errorf("fakefn: unexpected path %s", r.URL.Path)
		s.writeErr(w, http.StatusNotFound, wire.CodeNotFound, "no such path")
		return
	}
	if r.Method != http.MethodPost {
		s.t.Errorf("fakefn: unexpected method %s", r.Method)
		s.writeErr(w, http.StatusMethodNotAllowed, wire.CodeMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBodyBytes+1))
	if err != nil || len(body) > wire.MaxBodyBytes {
		s.writeErr(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "body too large")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	creds, err := auth.Parse(r.Header.Get("Authorization"))
	if err != nil || creds.Kind != auth.KindHMAC {
		s.refused++
		s.writeErr(w, http.StatusUnauthorized, wire.CodeUnauthorized, "bad credentials")
		return
	}
	st, ok := s.sites[creds.Site]
	if !ok || creds.VerifySecret(st.secret, r.Method, r.URL.EscapedPath(), body) != nil {
		s.refused++
		s.writeErr(w, http.StatusUnauthorized, wire.CodeUnauthorized, "bad credentials")
		return
	}
	if err := creds.CheckTime(s.clock()); err != nil {
		s.refused++
		s.writeErr(w, http.StatusUnauthorized, wire.CodeStaleTimestamp, "timestamp outside the window")
		return
	}
	key := string(creds.Site) + "/" + creds.Nonce
	if s.nonces[key] {
		s.refused++
		s.writeErr(w, http.StatusConflict, wire.CodeReplayed, "nonce already used")
		return
	}
	s.nonces[key] = true
	var req wire.PingRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			s.writeErr(w, http.StatusBadRequest, wire.CodeBadJSON, "body is not JSON")
			return
		}
	}
	if !strings.HasPrefix(req.Agent, "ppter-pinger/") {
		s.t.Errorf("fakefn: unexpected agent %q", req.Agent)
	}
	if s.fail != 0 {
		s.writeErr(w, s.fail, s.failErr, "failing on purpose")
		return
	}
	line := site.Line(req.Line)
	ls := st.of(line)
	if ls == nil {
		s.writeErr(w, http.StatusBadRequest, wire.CodeUnknownLine, fmt.Sprintf("site %s has no line %q", creds.Site, req.Line))
		return
	}
	ip := ls.source
	if !ip.IsValid() {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		ip = netip.MustParseAddr(host).Unmap()
	}
	changed, prev := s.record(ls, ip)
	s.pings++
	s.sinces = append(s.sinces, req.Since)
	resp := wire.PingResponse{
		Site: string(creds.Site), IP: ip, Family: wire.FamilyOf(ip), Changed: changed, PreviousIP: prev,
		SeenAt: s.clock().UTC(), FleetVersion: s.version, Peers: []wire.Peer{}, Targets: []wire.Target{},
		// As the function: a since it can serve gets the peers changed after it.
		Delta: req.Since != nil && *req.Since >= 0 && *req.Since <= s.version,
	}
	if len(st.lines) > 0 {
		resp.Line = string(cmp.Or(line, st.lines[0]))
	}
	names := make([]site.Name, 0, len(s.sites))
	for n := range s.sites {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if n == creds.Site {
			continue
		}
		p := s.sites[n]
		if resp.Delta && p.changedVer() <= *req.Since {
			continue
		}
		d := p.of("")
		peer := wire.Peer{Site: string(n), IPv4: d.ipv4, IPv6: d.ipv6, ChangedAt: d.changedAt, SeenAt: d.changedAt}
		for _, l := range p.lines {
			ls := p.line[l]
			peer.Lines = append(peer.Lines, wire.PeerLine{Name: string(l), IPv4: ls.ipv4, IPv6: ls.ipv6, ChangedAt: ls.changedAt, SeenAt: ls.changedAt})
		}
		resp.Peers = append(resp.Peers, peer)
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		panic(fmt.Sprintf("fakefn: encode: %v", err))
	}
}
