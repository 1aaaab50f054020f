package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
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
// per-request key for Basic pings), 5 handled hash, 6 handling lease.
// ARGV: 1 site, 2 family (4|6), 3 address, 4 now (ms), 5 run key TTL (ms), 6 stream cap,
// 7 token (random per request), 8 lease TTL (ms), 9… peers.
// Returns {"replay"} | {"ok", changed, previous, version, self, previous seen, handle,
// announced, peer…}.
var pingScript = redis.NewScript(`
local head = 8
local hf = ARGV[1] .. ':' .. ARGV[2]
local function peers(out)
  local i = 9
  while i <= #ARGV do
    local j = math.min(i + 499, #ARGV)
    local vals = redis.call('HMGET', KEYS[1], unpack(ARGV, i, j))
    for _, v in ipairs(vals) do out[#out + 1] = v or '' end
    i = j + 1
  end
  return out
end
if not redis.call('SET', KEYS[4], ARGV[7], 'NX', 'PX', ARGV[5]) then
  local v = redis.call('GET', KEYS[4]) or ''
  local tok = ARGV[7] .. '|'
  if v:sub(1, #tok) ~= tok then return {'replay'} end
  local f = {}
  for x in (v:sub(#tok + 1) .. '|'):gmatch('([^|]*)|') do f[#f + 1] = x end
  local self = redis.call('HGET', KEYS[1], ARGV[1]) or ''
  return peers({'ok', tonumber(f[1]), f[2], tonumber(f[3]), self, f[4], tonumber(f[5]), f[6]})
end
local r = {'', '0', '0', '', '0', '0'}
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local i = 1
  for f in (cur .. '|'):gmatch('([^|]*)|') do r[i] = f; i = i + 1 end
end
local prevSeen = math.max(tonumber(r[2]), tonumber(r[5]))
local o = 0
if ARGV[2] == '6' then o = 3 end
local prev = r[o + 1]
local changed = 0
if prev ~= ARGV[3] then
  changed = 1
  r[o + 1] = ARGV[3]
  r[o + 3] = ARGV[4]
end
r[o + 2] = ARGV[4]
local self = table.concat(r, '|')
redis.call('HSET', KEYS[1], ARGV[1], self)
local version
if changed == 1 then
  version = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'kind', 'address_changed', 'site', ARGV[1],
    'family', 'ipv' .. ARGV[2], 'ip', ARGV[3], 'previous', prev, 'at', ARGV[4])
else
  version = tonumber(redis.call('GET', KEYS[2]) or '0')
end
local announced = redis.call('HGET', KEYS[5], hf)
if not announced then
  -- Nothing handled yet for this site and family: an address it already had counts as
  -- handled (state written before handling was tracked); a new one is still to handle.
  announced = prev
  if changed == 0 then announced = ARGV[3] end
  redis.call('HSET', KEYS[5], hf, announced)
end
local handle = 0
local lease = redis.call('GET', KEYS[6]) or ''
if announced ~= ARGV[3] and lease:sub(1, #ARGV[3] + 1) ~= ARGV[3] .. '|' then
  redis.call('SET', KEYS[6], ARGV[3] .. '|' .. ARGV[7], 'PX', ARGV[8])
  handle = 1
end
redis.call('SET', KEYS[4], table.concat({ARGV[7], changed, prev, version, tostring(prevSeen), handle, announced}, '|'), 'PX', ARGV[5])
return peers({'ok', changed, prev, version, self, tostring(prevSeen), handle, announced})
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

// failScript counts one failure and starts its window on the first.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// Redis is the production store.
type Redis struct {
	c   redis.UniversalClient
	opt Options
}

var _ Store = (*Redis)(nil)

// NewRedis connects to the Redis at rawURL (redis:// or rediss://). The URL's password is
// never included in errors.
func NewRedis(ctx context.Context, rawURL string, opt Options) (*Redis, error) {
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store url: %s", redactErr(err, rawURL))
	}
	ro.DisableIdentity = true // no CLIENT SETINFO on each new connection
	opt.fill()
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

// NewRedisClient wraps an existing client (tests, Redis Cluster).
func NewRedisClient(c redis.UniversalClient, opt Options) *Redis {
	opt.fill()
	return &Redis{c: c, opt: opt}
}

// Client returns the underlying client, for other packages keeping state in the same Redis.
func (s *Redis) Client() redis.UniversalClient { return s.c }

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
	fam := Family(in.Addr)
	token := newToken()
	runKey, runTTL := s.key("req", token), basicRunTTL
	if in.Nonce != "" {
		runKey, runTTL = s.key("nonce", string(in.Site), in.Nonce), s.opt.NonceTTL
	}
	keys := []string{s.key("sites"), s.key("version"), s.key("events"), runKey,
		s.key("handled"), s.key("handling", string(in.Site), fam)}
	args := make([]any, 0, 8+len(in.Peers))
	args = append(args, string(in.Site), fam, in.Addr.Unmap().String(), now.UnixMilli(), runTTL.Milliseconds(),
		s.opt.EventsMax, token, s.opt.HandleLease.Milliseconds())
	for _, p := range in.Peers {
		args = append(args, string(p))
	}
	v, err := pingScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		// The script may have run and taken the handling lease for this request, which
		// will never see its answer: give the lease back (best effort; else it expires).
		_ = releaseScript.Run(ctx, s.c, keys[5:6], in.Addr.Unmap().String()+"|"+token).Err()
		return PingResult{}, unavailable(err)
	}
	if v[0] == "replay" {
		return PingResult{}, ErrReplay
	}
	const head = 8
	if len(v) != head+len(in.Peers) {
		return PingResult{}, fmt.Errorf("ping script: %d results, want %d", len(v), head+len(in.Peers))
	}
	res := PingResult{Changed: v[1] == int64(1), Version: v[3].(int64), Handle: v[6] == int64(1)}
	if res.Previous, err = parseAddr(v[2].(string)); err != nil {
		return PingResult{}, fmt.Errorf("previous address: %w", err)
	}
	if res.Self, err = decodeRecord(in.Site, v[4].(string)); err != nil {
		return PingResult{}, err
	}
	res.PrevSeen = fromMS(v[5].(string))
	if res.Announced, err = parseAddr(v[7].(string)); err != nil {
		return PingResult{}, fmt.Errorf("announced address: %w", err)
	}
	res.Peers = make([]Record, len(in.Peers))
	for i, p := range in.Peers {
		if res.Peers[i], err = decodeRecord(p, v[head+i].(string)); err != nil {
			return PingResult{}, err
		}
	}
	return res, nil
}

// basicRunTTL is how long the run key of a ping without a nonce is kept: long enough for
// any client retry of the same request.
const basicRunTTL = time.Minute

// newToken returns a random token naming one request's run of the ping script.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// Handled implements Store.
func (s *Redis) Handled(ctx context.Context, st site.Name, addr netip.Addr) error {
	fam := Family(addr)
	err := handledScript.Run(ctx, s.c, []string{s.key("sites"), s.key("handled"), s.key("handling", string(st), fam)},
		string(st), fam, addr.Unmap().String()).Err()
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
	var all *redis.MapStringStringCmd
	var ver *redis.StringCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, s.key("sites"))
		ver = p.Get(ctx, s.key("version"))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, unavailable(err)
	}
	version, _ := ver.Int64()
	recs := make([]Record, 0, len(all.Val()))
	for name, v := range all.Val() {
		r, err := decodeRecord(site.Name(name), v)
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
	msgs, err := s.c.XRevRangeN(ctx, s.key("events"), "+", "-", int64(n)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		out = append(out, Event{ID: m.ID, At: fromMS(str("at")), Kind: str("kind"), Site: site.Name(str("site")),
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
		Stream: s.key("events"), MaxLen: s.opt.EventsMax, Approx: true,
		Values: []any{"kind", e.Kind, "site", string(e.Site), "family", e.Family, "ip", e.IP,
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
func (s *Redis) MarkStale(ctx context.Context, st site.Name, seen time.Time) (bool, error) {
	n, err := markStaleScript.Run(ctx, s.c, []string{s.key("stale")}, string(st), ms(seen)).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Close implements Store.
func (s *Redis) Close() error { return s.c.Close() }
