package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ppter/ppter/shared/wire"
)

// Redis is a State in Redis. All keys start with one hash-tagged prefix (such as "{ppter}")
// so they live in one slot on Redis Cluster:
//
//	<prefix>:target:<kind>:<name>  JSON TargetState
//	<prefix>:vpnop:<name>          JSON VPNOp (the settings snapshot and progress of a re-point)
//	<prefix>:lock:<kind>:<name>    lock token (SET NX PX); kind "vpngw" locks a VPN gateway
//	<prefix>:unfinished            set of "<kind>:<name>" needing another reconcile soon
//	<prefix>:runs                  counter of timer runs (where the next walk starts)
//
// The secrets of a saved VPNOp (PSKs, customer-gateway AuthKeys) are encrypted with
// RedisOptions.Key, the op's Redis key as associated data.
type Redis struct {
	c      *redis.Client // concrete, not an interface: see store.Redis
	prefix string
	opt    RedisOptions
}

// RedisOptions tune a Redis State.
type RedisOptions struct {
	// Key encrypts saved VPN secrets; without it a re-point that would save one is refused.
	Key *StateKey
	// Replicas is how many replicas must confirm a saved re-point (WAIT) before a
	// connection is deleted; 0 (single-node Redis) confirms nothing.
	Replicas int
	// WaitTimeout bounds that WAIT (default DefaultWaitTimeout; WAIT 0 would block forever).
	WaitTimeout time.Duration
}

// DefaultWaitTimeout bounds the WAIT that confirms a saved re-point on a replica.
const DefaultWaitTimeout = time.Second

// ErrNotDurable means the saved re-point was not confirmed by a replica in time, so nothing is
// deleted (set redis.single_node for a Redis without replicas).
var ErrNotDurable = errors.New("cloud: the saved VPN settings were not confirmed by a Redis replica; nothing deleted (redis.single_node: true for a Redis without replicas)")

var _ State = (*Redis)(nil)

// NewRedis returns a Redis State using client and key prefix.
func NewRedis(client *redis.Client, prefix string, opt RedisOptions) *Redis {
	if opt.WaitTimeout <= 0 {
		opt.WaitTimeout = DefaultWaitTimeout
	}
	return &Redis{c: client, prefix: prefix, opt: opt}
}

func (r *Redis) targetKey(k TargetKey) string { return r.prefix + ":target:" + k.String() }
func (r *Redis) opKey(k TargetKey) string     { return r.prefix + ":vpnop:" + k.Name }
func (r *Redis) lockKey(k TargetKey) string   { return r.prefix + ":lock:" + k.String() }

func (r *Redis) getJSON(ctx context.Context, key string, v any) (bool, error) {
	b, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: get %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("state: decode %s: %w", key, err)
	}
	return true, nil
}

// setter is the Set of the client, or of the one connection a WAIT follows. (A method value,
// not an interface: one naming Set keeps every go-redis type's Set in the function's binary.)
type setter func(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd

// putJSON saves v at key with set.
func putJSON(ctx context.Context, set setter, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := set(ctx, key, b, 0).Err(); err != nil {
		return fmt.Errorf("state: set %s: %w", key, err)
	}
	return nil
}

// GetTarget implements State.
func (r *Redis) GetTarget(ctx context.Context, k TargetKey) (TargetState, bool, error) {
	var s TargetState
	ok, err := r.getJSON(ctx, r.targetKey(k), &s)
	return s, ok, err
}

// PutTarget implements State.
func (r *Redis) PutTarget(ctx context.Context, k TargetKey, s TargetState) error {
	return putJSON(ctx, r.c.Set, r.targetKey(k), s)
}

// GetVPNOp implements State.
func (r *Redis) GetVPNOp(ctx context.Context, k TargetKey) (VPNOp, bool, error) {
	var op VPNOp
	ok, err := r.getJSON(ctx, r.opKey(k), &op)
	if err != nil || !ok {
		return op, ok, err
	}
	if err := openOp(&op, r.opt.Key, r.opKey(k)); err != nil {
		return VPNOp{}, false, fmt.Errorf("state: %s: %w", r.opKey(k), err)
	}
	return op, true, nil
}

// putOp saves op, its secrets sealed, with set.
func (r *Redis) putOp(ctx context.Context, set setter, k TargetKey, op VPNOp) error {
	op, err := sealOp(op, r.opt.Key, r.opKey(k))
	if err != nil {
		return err
	}
	return putJSON(ctx, set, r.opKey(k), op)
}

// PutVPNOp implements State.
func (r *Redis) PutVPNOp(ctx context.Context, k TargetKey, op VPNOp) error {
	return r.putOp(ctx, r.c.Set, k, op)
}

// ConfirmVPNOp implements State. SET and WAIT go down one connection, since WAIT counts
// the replicas that have this connection's writes.
func (r *Redis) ConfirmVPNOp(ctx context.Context, k TargetKey, op VPNOp) error {
	if r.opt.Replicas <= 0 {
		return r.PutVPNOp(ctx, k, op)
	}
	conn := r.c.Conn()
	defer conn.Close()
	if err := r.putOp(ctx, conn.Set, k, op); err != nil {
		return err
	}
	// WAIT answers after WaitTimeout at the latest; go-redis extends the read timeout to it.
	n, err := conn.Wait(ctx, r.opt.Replicas, r.opt.WaitTimeout).Result()
	if err != nil {
		return fmt.Errorf("state: wait %s: %w", r.opKey(k), err)
	}
	if n < int64(r.opt.Replicas) {
		return fmt.Errorf("%w (%d of %d within %s)", ErrNotDurable, n, r.opt.Replicas, r.opt.WaitTimeout)
	}
	return nil
}

// DeleteVPNOp implements State.
func (r *Redis) DeleteVPNOp(ctx context.Context, k TargetKey) error {
	if err := r.c.Del(ctx, r.opKey(k)).Err(); err != nil {
		return fmt.Errorf("state: delete op: %w", err)
	}
	return nil
}

// Lock implements State.
func (r *Redis) Lock(ctx context.Context, k TargetKey, ttl time.Duration) (string, bool, error) {
	t := newToken()
	ok, err := r.c.SetNX(ctx, r.lockKey(k), t, ttl).Result()
	if err != nil {
		return "", false, fmt.Errorf("state: lock: %w", err)
	}
	if !ok {
		return "", false, nil
	}
	return t, true, nil
}

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Unlock implements State.
func (r *Redis) Unlock(ctx context.Context, k TargetKey, token string) error {
	if err := unlockScript.Run(ctx, r.c, []string{r.lockKey(k)}, token).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("state: unlock: %w", err)
	}
	return nil
}

func (r *Redis) unfinishedKey() string { return r.prefix + ":unfinished" }

// SetUnfinished implements State.
func (r *Redis) SetUnfinished(ctx context.Context, k TargetKey, unfinished bool) error {
	var err error
	if unfinished {
		err = r.c.SAdd(ctx, r.unfinishedKey(), k.String()).Err()
	} else {
		err = r.c.SRem(ctx, r.unfinishedKey(), k.String()).Err()
	}
	if err != nil {
		return fmt.Errorf("state: unfinished: %w", err)
	}
	return nil
}

// NextRun implements State.
func (r *Redis) NextRun(ctx context.Context) (int64, error) {
	n, err := r.c.Incr(ctx, r.prefix+":runs").Result()
	if err != nil {
		return 0, fmt.Errorf("state: runs: %w", err)
	}
	return n, nil
}

// Unfinished implements State.
func (r *Redis) Unfinished(ctx context.Context) ([]TargetKey, error) {
	ms, err := r.c.SMembers(ctx, r.unfinishedKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("state: unfinished: %w", err)
	}
	slices.Sort(ms)
	out := make([]TargetKey, 0, len(ms))
	for _, m := range ms {
		kind, name, _ := strings.Cut(m, ":")
		out = append(out, TargetKey{Kind: wire.Kind(kind), Name: name})
	}
	return out, nil
}
