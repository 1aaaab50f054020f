package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ppter/ppter/shared/site"
)

// pingScript does a whole ping in one round trip. It runs at most once per request: a
// client that retries it (go-redis does after a read timeout) finds the run key holding its
// own token and gets the first run's answer back, not a replay error and not a second
// recording that would hide the change.
//
// KEYS: 1 sites hash, 2 fleet version, 3 event stream, 4 run key (the nonce key, or a
// per-request key for Basic pings), 5 handled hash, 6 handling lease, 7 changes set.
// ARGV: 1 the line's slot (see slot), 2 family (4|6), 3 address, 4 now (ms), 5 run key TTL (ms), 6 stream cap,
// 7 token (random per request), 8 lease TTL (ms), 9 since (empty for none), 10 the
// configuration's id (Options.ConfigID), 11… the peers' slots (without since: every peer's,
// each followed by its other lines'; with since: every slot of the peers with lines, which
// a delta lists all together when one of them changed).
// Returns "replay", or one string of lines (one string is one reply to decode, not one per
// field): ok, changed, previous, version, self, previous seen, handle, announced, then the
// mode and the peers: "list" and a record per ARGV peer; "delta" and name, record of each
// site changed after since; "full" and name, record of every site.
//
// It reads first (the site's record and its first peers in one HMGET) and writes only once
// the run key is its own: a steady ping without since is five commands in the script, one
// with since seven. Its values stay the strings they were read as (numbers are made only to
// compare and add): converting numbers back to strings was a third of its own time.
// TestPingScriptMatchesBefore holds it to its predecessor, answer for answer.
var pingScript = redis.NewScript(`
local site, fam, addr, now, since = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[9]
local n = #ARGV
local j = n
if since ~= '' then j = 10 elseif j > 510 then j = 510 end
local vals = redis.call('HMGET', KEYS[1], site, unpack(ARGV, 11, j))
local cur = vals[1]
-- Every value stays a string: Lua's number-to-string conversion is most of a script's own
-- time, so numbers are made only to compare or add.
local a4, s4, c4, a6, s6, c6 = '', '0', '0', '', '0', '0'
if cur then a4, s4, c4, a6, s6, c6 = string.match(cur, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$') end
local prevSeen = s4
if (tonumber(s6) or 0) > (tonumber(s4) or 0) then prevSeen = s6 end
local prev, changed = a4, '0'
if fam == '6' then prev = a6 end
if prev ~= addr then changed = '1' end
if fam == '6' then
  if changed == '1' then a6, c6 = addr, now end
  s6 = now
else
  if changed == '1' then a4, c4 = addr, now end
  s4 = now
end
local self = a4 .. '|' .. s4 .. '|' .. c4 .. '|' .. a6 .. '|' .. s6 .. '|' .. c6
local before = redis.call('GET', KEYS[2]) or '0'
local bn = tonumber(before)
local version, vn = before, bn
if changed == '1' then vn = bn + 1; version = tostring(vn) end
-- The changes set holds each site at the version of its last change, and '#' .. the
-- configuration's id (ARGV[10]) at the floor from which it is complete for that
-- configuration. It is complete up to the version when its top score is the version (a
-- change it missed, made by a script without it, lowers the top); else the floor is raised
-- to the version. A configuration without a floor (new, or its peers changed) bumps the
-- version and starts its floor there, so every since from before gets every site. A since
-- from the floor to the version is answered with the sites changed after it; any other
-- since gets every site.
local floorName = '#' .. ARGV[10]
local mode, s, repair, bump = 'list', nil, false, false
if since ~= '' or changed == '1' then
  local top = redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')
  repair = not (top[2] and tonumber(top[2]) == bn)
end
if since ~= '' then
  s = tonumber(since)
  local floor = redis.call('ZSCORE', KEYS[7], floorName)
  if not floor then
    bump = true
    vn = vn + 1
    version = tostring(vn)
  end
  mode = 'full'
  if not repair and not bump and s and s >= tonumber(floor) and s <= vn then mode = 'delta' end
end
-- tail answers the head's fields (the first run's, for a retry) and the peers.
local function tail(head)
  head[#head + 1] = mode
  if mode == 'list' then
    for k = 2, #vals do head[#head + 1] = vals[k] or '' end
    local i = j + 1
    while i <= n do
      local e = math.min(i + 499, n)
      for _, v in ipairs(redis.call('HMGET', KEYS[1], unpack(ARGV, i, e))) do head[#head + 1] = v or '' end
      i = e + 1
    end
  elseif mode == 'full' then
    for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do head[#head + 1] = v end
  elseif s < vn then
    local names = redis.call('ZRANGEBYSCORE', KEYS[7], '(' .. since, '+inf')
    if n > 10 then
      -- A peer with lines comes with all of them when one changed.
      local hit, have = {}, {}
      for _, v in ipairs(names) do hit[v:match('^[^/]*')], have[v] = true, true end
      for k = 11, n do
        local v = ARGV[k]
        if hit[v:match('^[^/]*')] and not have[v] then names[#names + 1] = v end
      end
    end
    local i = 1
    while i <= #names do
      local e = math.min(i + 499, #names)
      local got = redis.call('HMGET', KEYS[1], unpack(names, i, e))
      for k = i, e do
        head[#head + 1] = names[k]
        head[#head + 1] = got[k - i + 1] or ''
      end
      i = e + 1
    end
  end
  return table.concat(head, '\n')
end
local hf = site .. ':' .. fam
local announced = redis.call('HGET', KEYS[5], hf)
local record = false
if not announced then
  -- Nothing handled yet for this site and family: an address it already had counts as
  -- handled (state written before handling was tracked); a new one is still to handle.
  announced = prev
  if changed == '0' then announced = addr end
  record = true
end
local handle = '0'
if announced ~= addr then
  local lease = redis.call('GET', KEYS[6]) or ''
  if lease:sub(1, #addr + 1) ~= addr .. '|' then handle = '1' end
end
local tok = ARGV[7] .. '|'
if not redis.call('SET', KEYS[4], tok .. changed .. '|' .. prev .. '|' .. version .. '|' .. prevSeen .. '|' .. handle .. '|' .. announced, 'NX', 'PX', ARGV[5]) then
  local v = redis.call('GET', KEYS[4]) or ''
  if v:sub(1, #tok) ~= tok then return 'replay' end
  local c, p, ver, ps, h, a = string.match(v, '^[^|]*|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return tail({'ok', c, p, ver, cur or '', ps, h, a})
end
redis.call('HSET', KEYS[1], site, self)
if vn ~= bn then redis.call('INCRBY', KEYS[2], vn - bn) end
if changed == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'kind', 'address_changed', 'site', site,
    'family', 'ipv' .. fam, 'ip', addr, 'previous', prev, 'at', now)
end
if bump then
  redis.call('ZADD', KEYS[7], version, floorName)
elseif repair then
  redis.call('ZADD', KEYS[7], before, floorName)
end
if changed == '1' then redis.call('ZADD', KEYS[7], version, site) end
if record then redis.call('HSET', KEYS[5], hf, announced) end
if handle == '1' then redis.call('SET', KEYS[6], addr .. '|' .. ARGV[7], 'PX', ARGV[8]) end
return tail({'ok', changed, prev, version, self, prevSeen, handle, announced})
`)

// handledScript records that a ping carried out the change to ARGV[3] (reconcile and
// notifications), unless the site has moved on meanwhile, and ends its lease.
//
// KEYS: 1 sites hash, 2 handled hash, 3 handling lease. ARGV: 1 site, 2 family, 3 address.
var handledScript = redis.NewScript(`
local lease = redis.call('GET', KEYS[3]) or ''
if lease:sub(1, #ARGV[3] + 1) == ARGV[3] .. '|' then redis.call('DEL', KEYS[3]) end
local f = {}
for x in ((redis.call('HGET', KEYS[1], ARGV[1]) or '') .. '|'):gmatch('([^|]*)|') do f[#f + 1] = x end
local i = 1
if ARGV[2] == '6' then i = 4 end
if f[i] == ARGV[3] then redis.call('HSET', KEYS[2], ARGV[1] .. ':' .. ARGV[2], ARGV[3]) end
return 1
`)

// releaseScript ends the handling lease ARGV[1] (address|token) took, if it still holds it:
// a ping that could not read its script's answer cannot handle the change, so the next
// ping must not wait for the lease to expire.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// fleetScript reads every site's record and the fleet version in one atomic round trip.
var fleetScript = redis.NewScript(`
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]) or '0'}
`)

// failScript counts one failure and starts its window on the first.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// Redis is the production store.
//
// It holds the concrete *redis.Client, never redis.UniversalClient or a Pipeliner: an
// interface value with go-redis' whole command set makes the linker keep every command
// (RediSearch's parsers included) in the function binary, which Function Compute
// downloads on every cold start.
type Redis struct {
	c   *redis.Client
	opt Options
	// The ping's fixed keys and arguments, made once and held as the any values the
	// command's arguments are (each string or number boxed per ping would allocate).
	kSites, kVersion, kEvents, kHandled, kChanges string
	aSites, aVersion, aEvents, aHandled, aChanges any
	aNonceTTL, aBasicTTL, aEventsMax, aLease      any
	aConfigID                                     any
}

// The script's command and the family arguments, boxed once.
var (
	argEvalSha, argPingSHA, argKeys  any = "evalsha", pingScript.Hash(), pingKeys
	argFamily4, argFamily6, argEmpty any = "4", "6", ""
)

// pingKeys is how many of the ping script's arguments are keys.
const pingKeys = 7

var _ Store = (*Redis)(nil)

// NewRedis connects to the Redis at rawURL (redis:// or rediss://). The URL's password is
// never included in errors.
func NewRedis(ctx context.Context, rawURL string, opt Options) (*Redis, error) {
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store url: %s", redactErr(err, rawURL))
	}
	ro.DisableIdentity = true // no CLIENT SETINFO on each new connection
	ro.DialTimeout = opt.Timeout
	ro.ReadTimeout = opt.Timeout
	ro.WriteTimeout = opt.Timeout
	ro.PoolSize = 4 // an FC instance serves one request at a time
	// One retry (0 would mean go-redis's default of 3): a command whose reply was lost is
	// sent again. The ping script recognises its own retry (see pingScript); every other
	// write is idempotent or a counter where one extra count does no harm.
	ro.MaxRetries = 1
	return NewRedisClient(redis.NewClient(ro), opt), nil
}

// NewRedisClient wraps an existing client (tests).
func NewRedisClient(c *redis.Client, opt Options) *Redis {
	s := &Redis{c: c, opt: opt}
	s.kSites, s.kVersion, s.kEvents, s.kHandled, s.kChanges = s.key("sites"), s.key("version"), s.key("events"), s.key("handled"), s.key("changes")
	s.aSites, s.aVersion, s.aEvents, s.aHandled, s.aChanges = s.kSites, s.kVersion, s.kEvents, s.kHandled, s.kChanges
	s.aConfigID = opt.ConfigID
	s.aNonceTTL, s.aBasicTTL = NonceTTL.Milliseconds(), basicRunTTL.Milliseconds()
	s.aEventsMax, s.aLease = opt.EventsMax, opt.HandleLease.Milliseconds()
	return s
}

// Client returns the underlying client, for other packages keeping state in the same Redis.
func (s *Redis) Client() *redis.Client { return s.c }

func redactErr(err error, rawURL string) string {
	msg := err.Error()
	if i := strings.Index(rawURL, "@"); i > 0 {
		msg = strings.ReplaceAll(msg, rawURL[:i], "redis://…")
	}
	return msg
}

func (s *Redis) key(parts ...string) string {
	return s.opt.Prefix + ":" + strings.Join(parts, ":")
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Ping implements Store.
func (s *Redis) Ping(ctx context.Context, in PingInput) (PingResult, error) {
	now := s.opt.Now()
	fam, aFam := Family(in.Addr), argFamily4
	if fam == "6" {
		aFam = argFamily6
	}
	token := newToken()
	addr := in.Addr.Unmap().String()
	sl := slot(in.Site, in.Line)
	runKey, runTTL := s.opt.Prefix+":req:"+token, s.aBasicTTL
	if in.Nonce != "" {
		runKey, runTTL = s.opt.Prefix+":nonce:"+string(in.Site)+":"+in.Nonce, s.aNonceTTL
	}
	handling := s.opt.Prefix + ":handling:" + sl + ":" + fam
	// EVALSHA sha numkeys KEYS… ARGV…, built here rather than by Script.Run, which boxes
	// every key and argument anew.
	n := 3 + pingKeys + 10 + len(in.Peers)
	for _, ls := range in.Lines { // each peer's other lines are slots of their own
		n += len(ls)
	}
	args := make([]any, 0, n)
	args = append(args, argEvalSha, argPingSHA, argKeys,
		s.aSites, s.aVersion, s.aEvents, runKey, s.aHandled, handling, s.aChanges,
		sl, aFam, addr, now.UnixMilli(), runTTL, s.aEventsMax, token, s.aLease)
	if in.Delta {
		args = append(args, in.Since, s.aConfigID) // the script reads the peers from the changes set
		for _, p := range in.Peers {
			if ls := in.Lines[p]; len(ls) > 0 {
				args = appendSlots(args, p, ls)
			}
		}
	} else {
		args = append(args, argEmpty, s.aConfigID)
		for _, p := range in.Peers {
			args = appendSlots(args, p, in.Lines[p])
		}
	}
	v, err := s.runPing(ctx, args)
	if err != nil {
		// The script may have run and taken the handling lease for this request, which
		// will never see its answer: give the lease back (best effort; else it expires).
		_ = releaseScript.Run(ctx, s.c, []string{handling}, addr+"|"+token).Err()
		return PingResult{}, unavailable(err)
	}
	if v == "replay" {
		return PingResult{}, ErrReplay
	}
	const head = 9
	var f [head]string
	more := true
	for i := range f {
		if !more {
			return PingResult{}, fmt.Errorf("ping script: %d lines, want at least %d", i, head)
		}
		f[i], v, more = strings.Cut(v, "\n")
	}
	if f[0] != "ok" {
		return PingResult{}, fmt.Errorf("ping script: %q, want ok", f[0])
	}
	res := PingResult{Changed: f[1] == "1", Handle: f[6] == "1", Delta: f[8] == "delta"}
	if res.Version, err = strconv.ParseInt(f[3], 10, 64); err != nil {
		return PingResult{}, fmt.Errorf("fleet version: %w", err)
	}
	if res.Previous, err = parseAddr(f[2]); err != nil {
		return PingResult{}, fmt.Errorf("previous address: %w", err)
	}
	if res.Self, err = decodeRecord(in.Site, in.Line, f[4]); err != nil {
		return PingResult{}, err
	}
	res.PrevSeen = fromMS(f[5])
	if res.Announced, err = parseAddr(f[7]); err != nil {
		return PingResult{}, fmt.Errorf("announced address: %w", err)
	}
	switch f[8] {
	case "list":
		res.Peers, err = listedPeers(in, v, more)
	case "delta", "full":
		res.Peers, err = namedPeers(in, v, more, res.Delta)
	default:
		err = fmt.Errorf("ping script: mode %q", f[8])
	}
	if err != nil {
		return PingResult{}, err
	}
	return res, nil
}

// appendSlots appends the slots of peer p's lines: its default line, then ls.
func appendSlots(args []any, p site.Name, ls []site.Line) []any {
	args = append(args, string(p))
	for _, l := range ls {
		args = append(args, slot(p, l))
	}
	return args
}

// listedPeers decodes the script's records of the peers, one line each in the order of the
// slots appendSlots gave; a never-seen slot's line is empty. more tells whether v holds
// any line.
func listedPeers(in PingInput, v string, more bool) ([]Record, error) {
	out := make([]Record, len(in.Peers))
	next := func(p site.Name, l site.Line) (Record, error) {
		if !more {
			return Record{}, fmt.Errorf("ping script: too few peer records, want %d peers", len(in.Peers))
		}
		var line string
		line, v, more = strings.Cut(v, "\n")
		return decodeRecord(p, l, line)
	}
	for i, p := range in.Peers {
		var err error
		if out[i], err = next(p, ""); err != nil {
			return nil, err
		}
		for _, l := range in.Lines[p] {
			r, err := next(p, l)
			if err != nil {
				return nil, err
			}
			out[i].Lines = append(out[i].Lines, r)
		}
	}
	if more {
		return nil, fmt.Errorf("ping script: more than %d peer records", len(in.Peers))
	}
	return out, nil
}

// namedPeers picks peers from the script's name, record lines, in the order of peers. A
// full answer has every peer (a never-seen one with zero fields); a delta only the ones
// listed.
func namedPeers(in PingInput, v string, more, delta bool) ([]Record, error) {
	got := map[string]string{}
	for more {
		var name, line string
		name, v, more = strings.Cut(v, "\n")
		if !more {
			return nil, fmt.Errorf("ping script: site %q without a record", name)
		}
		line, v, more = strings.Cut(v, "\n")
		got[name] = line
	}
	out := make([]Record, 0, min(len(in.Peers), len(got)))
	if !delta {
		out = make([]Record, 0, len(in.Peers))
	}
	for _, p := range in.Peers {
		line, ok := got[string(p)]
		for _, l := range in.Lines[p] {
			_, lok := got[slot(p, l)]
			ok = ok || lok
		}
		if !ok && delta {
			continue
		}
		r, err := decodeRecord(p, "", line)
		if err != nil {
			return nil, err
		}
		for _, l := range in.Lines[p] {
			lr, err := decodeRecord(p, l, got[slot(p, l)])
			if err != nil {
				return nil, err
			}
			r.Lines = append(r.Lines, lr)
		}
		out = append(out, r)
	}
	return out, nil
}

// runPing sends the ping script's EVALSHA (args) and answers its string; a server that
// does not hold the script (new, restarted, flushed) is given it once with SCRIPT LOAD.
func (s *Redis) runPing(ctx context.Context, args []any) (string, error) {
	v, err := s.c.Do(ctx, args...).Text()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := pingScript.Load(ctx, s.c).Err(); err != nil {
			return "", err
		}
		v, err = s.c.Do(ctx, args...).Text()
	}
	return v, err
}

// basicRunTTL is how long the run key of a ping without a nonce is kept: long enough for
// any client retry of the same request.
const basicRunTTL = time.Minute

// newToken returns a random token naming one request's run of the ping script.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// Handled implements Store.
func (s *Redis) Handled(ctx context.Context, st site.Name, line site.Line, addr netip.Addr) error {
	fam := Family(addr)
	sl := slot(st, line)
	err := handledScript.Run(ctx, s.c, []string{s.kSites, s.kHandled, s.key("handling", sl, fam)},
		sl, fam, addr.Unmap().String()).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Failures implements Store.
func (s *Redis) Failures(ctx context.Context, k FailKey) (int, error) {
	n, err := s.c.Get(ctx, s.failKey(k)).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, unavailable(err)
	}
	return n, nil
}

// AuthFailure implements Store.
func (s *Redis) AuthFailure(ctx context.Context, k FailKey) (int, error) {
	n, err := failScript.Run(ctx, s.c, []string{s.failKey(k)}, s.opt.FailureWindow.Milliseconds()).Int()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

func (s *Redis) failKey(k FailKey) string { return s.key("fail", k.String()) }

// Fleet implements Store.
func (s *Redis) Fleet(ctx context.Context) ([]Record, int64, error) {
	res, err := fleetScript.Run(ctx, s.c, []string{s.kSites, s.kVersion}).Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("fleet script answered %d values", len(res))
		}
		return nil, 0, unavailable(err)
	}
	flat, _ := res[0].([]any)
	vs, _ := res[1].(string)
	version, _ := strconv.ParseInt(vs, 10, 64)
	all := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		all[k] = v
	}
	recs := make([]Record, 0, len(all))
	for name, v := range all {
		st, l := splitSlot(name)
		r, err := decodeRecord(st, l, v)
		if err != nil {
			return nil, 0, err
		}
		recs = append(recs, r)
	}
	sortRecords(recs)
	return recs, version, nil
}

// Events implements Store.
func (s *Redis) Events(ctx context.Context, n int) ([]Event, error) {
	msgs, err := s.c.XRevRangeN(ctx, s.kEvents, "+", "-", int64(n)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		st, l := splitSlot(str("site"))
		out = append(out, Event{ID: m.ID, At: fromMS(str("at")), Kind: str("kind"), Site: st, Line: l,
			Family: str("family"), IP: str("ip"), Previous: str("previous"), Detail: str("detail")})
	}
	return out, nil
}

// AppendEvent implements Store.
func (s *Redis) AppendEvent(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = s.opt.Now()
	}
	err := s.c.XAdd(ctx, &redis.XAddArgs{
		Stream: s.kEvents, MaxLen: s.opt.EventsMax, Approx: true,
		Values: []any{"kind", e.Kind, "site", slot(e.Site, e.Line), "family", e.Family, "ip", e.IP,
			"previous", e.Previous, "at", e.At.UnixMilli(), "detail", e.Detail},
	}).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// markStaleScript records that a site was reported stale for the ping seen at ARGV[2];
// it returns 1 the first time for that ping.
var markStaleScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// MarkStale implements Store.
func (s *Redis) MarkStale(ctx context.Context, st site.Name, line site.Line, seen time.Time) (bool, error) {
	n, err := markStaleScript.Run(ctx, s.c, []string{s.key("stale")}, slot(st, line), ms(seen)).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Close implements Store.
func (s *Redis) Close() error { return s.c.Close() }
