package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ppter/ppter/shared/site"
)

// pingScript does a whole ping in one round trip.
//
// KEYS: 1 sites hash, 2 fleet version, 3 event stream, 4 nonce key, 5 failure counter.
// ARGV: 1 site, 2 family (4|6), 3 address, 4 now (ms), 5 nonce TTL (ms, 0 = no nonce),
// 6 stream cap, 7 max failures, 8… peers.
// Returns {"limited"} | {"replay"} | {"ok", changed, previous, version, self, previous seen, peer…}.
var pingScript = redis.NewScript(`
local fails = tonumber(redis.call('GET', KEYS[5]) or '0')
if fails >= tonumber(ARGV[7]) then return {'limited'} end
if ARGV[5] ~= '0' then
  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5]) then return {'replay'} end
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
local out = {'ok', changed, prev, version, self, tostring(prevSeen)}
local n = #ARGV - 7
local i = 8
while i <= #ARGV do
  local j = math.min(i + 499, #ARGV)
  local vals = redis.call('HMGET', KEYS[1], unpack(ARGV, i, j))
  for _, v in ipairs(vals) do out[#out + 1] = v or '' end
  i = j + 1
end
return out
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
	ro.DialTimeout = 2 * time.Second
	ro.ReadTimeout = 2 * time.Second
	ro.WriteTimeout = 2 * time.Second
	ro.PoolSize = 4 // an FC instance serves one request at a time
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
	nonceTTL := "0"
	if in.Nonce != "" {
		nonceTTL = strconv.FormatInt(s.opt.NonceTTL.Milliseconds(), 10)
	}
	keys := []string{s.key("sites"), s.key("version"), s.key("events"),
		s.key("nonce", string(in.Site), in.Nonce), s.key("fail", in.Source.String())}
	args := make([]any, 0, 7+len(in.Peers))
	args = append(args, string(in.Site), fam, in.Addr.Unmap().String(), now.UnixMilli(), nonceTTL, s.opt.EventsMax, s.opt.MaxFailures)
	for _, p := range in.Peers {
		args = append(args, string(p))
	}
	v, err := pingScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return PingResult{}, unavailable(err)
	}
	switch v[0] {
	case "limited":
		return PingResult{}, ErrLimited
	case "replay":
		return PingResult{}, ErrReplay
	}
	const head = 6
	if len(v) != head+len(in.Peers) {
		return PingResult{}, fmt.Errorf("ping script: %d results, want %d", len(v), head+len(in.Peers))
	}
	res := PingResult{Changed: v[1] == int64(1), Version: v[3].(int64)}
	if res.Previous, err = parseAddr(v[2].(string)); err != nil {
		return PingResult{}, fmt.Errorf("previous address: %w", err)
	}
	if res.Self, err = decodeRecord(in.Site, v[4].(string)); err != nil {
		return PingResult{}, err
	}
	res.PrevSeen = fromMS(v[5].(string))
	res.Peers = make([]Record, len(in.Peers))
	for i, p := range in.Peers {
		if res.Peers[i], err = decodeRecord(p, v[head+i].(string)); err != nil {
			return PingResult{}, err
		}
	}
	return res, nil
}

// AuthFailure implements Store.
func (s *Redis) AuthFailure(ctx context.Context, src netip.Addr) (bool, error) {
	n, err := failScript.Run(ctx, s.c, []string{s.key("fail", src.String())}, s.opt.FailureWindow.Milliseconds()).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n > s.opt.MaxFailures, nil
}

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
