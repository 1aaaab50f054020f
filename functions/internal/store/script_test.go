package store

import (
	"context"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ppter/ppter/internal/redistest"
)

// pingBefore is the ping script as it was before it kept every value a string (issue 13's
// third round): the reference the lean one must answer and write exactly like.
//
//go:embed testdata/ping-before.lua
var pingBefore string

// TestPingScriptMatchesBefore drives the ping script and its predecessor through the same
// random histories, each in its own namespace of one real Redis, and wants the same answer
// to every call and the same keys after each: pings of several sites, lines and families,
// with and without since (good, stale, ahead, garbage), peers listed or not, retries of a
// run (same token) and replays (another token), handled marks, leases taken by others, a
// version bumped behind the changes set's back and a floor deleted.
func TestPingScriptMatchesBefore(t *testing.T) {
	c := redistest.Client(t)
	ctx := context.Background()
	scripts := []*redis.Script{redis.NewScript(pingBefore), pingScript}
	prefixes := []string{redistest.Namespace(), redistest.Namespace()}
	key := func(p, k string) string { return p + ":" + k }
	slots := []string{"hz", "bj", "bj/unicom", "sh", "gz"}
	addrs := []string{"203.0.113.7", "198.51.100.2", "2001:db8::7", "2001:db8::8"}
	rng := rand.New(rand.NewPCG(13, 3))
	now := int64(1764583200000)
	seen := map[string]int{} // the kinds of answer met, so the histories cannot go tame
	for step := range 3000 {
		now += rng.Int64N(20000)
		slot, addr := slots[rng.IntN(len(slots))], addrs[rng.IntN(len(addrs))]
		fam := "4"
		if addr[0] == '2' && addr[1] == '0' && addr[2] == '0' {
			fam = "6"
		}
		switch rng.IntN(10) {
		case 0: // the change handled
			for _, p := range prefixes {
				f := []string{key(p, "sites"), key(p, "handled"), key(p, "handling:"+slot+":"+fam)}
				if err := handledScript.Run(ctx, c, f, slot, fam, addr).Err(); err != nil {
					t.Fatal(err)
				}
			}
			continue
		case 1: // an older instance: the version moves without the changes set, or a floor goes
			bump := rng.IntN(2) == 0
			for _, p := range prefixes {
				if bump {
					c.Incr(ctx, key(p, "version"))
				} else {
					c.ZRem(ctx, key(p, "changes"), "#cfg")
				}
			}
			continue
		}
		since := ""
		switch rng.IntN(4) {
		case 1:
			v, _ := c.Get(ctx, key(prefixes[0], "version")).Int64()
			since = strconv.FormatInt(v-rng.Int64N(4), 10)
		case 2:
			since = strconv.FormatInt(rng.Int64N(60)-5, 10)
		case 3:
			since = []string{"x", "99999", "0"}[rng.IntN(3)]
		}
		run := fmt.Sprintf("req:%d", step)
		token := fmt.Sprintf("tok%d", step)
		if step > 0 && rng.IntN(8) == 0 { // the same run again: a retry, or a replay
			run = fmt.Sprintf("req:%d", step-1)
			if rng.IntN(2) == 0 {
				token = fmt.Sprintf("tok%d", step-1)
			}
		}
		lease := "handling:" + slot + ":" + fam
		if rng.IntN(10) == 0 { // another request holds the lease
			for _, p := range prefixes {
				c.Set(ctx, key(p, lease), addr+"|other", 0)
			}
		}
		args := []any{slot, fam, addr, now, 600000, 100, token, 60000, since, "cfg"}
		for _, s := range slots {
			if s != slot && rng.IntN(3) > 0 && (since == "" || slices.Contains(slots[1:3], s)) {
				args = append(args, s)
			}
		}
		var got [2]string
		for i, p := range prefixes {
			keys := []string{key(p, "sites"), key(p, "version"), key(p, "events"), key(p, run), key(p, "handled"), key(p, lease), key(p, "changes")}
			v, err := scripts[i].Run(ctx, c, keys, args...).Text()
			if err != nil {
				got[i] = "error: " + err.Error()
			} else {
				got[i] = v
			}
		}
		f := strings.SplitN(got[1], "\n", 10)
		switch {
		case len(f) < 9:
			seen[got[1]]++
		case run != fmt.Sprintf("req:%d", step):
			seen["retry"]++
		default:
			seen[f[8]]++
			seen["changed="+f[1]]++
			seen["handle="+f[6]]++
		}
		if got[0] != got[1] {
			t.Fatalf("step %d, args %v:\nbefore %q\nnow    %q", step, args, got[0], got[1])
		}
		if a, b := dumpState(t, c, prefixes[0], run, lease), dumpState(t, c, prefixes[1], run, lease); a != b {
			t.Fatalf("step %d, args %v: the state differs:\nbefore %s\nnow    %s", step, args, a, b)
		}
	}
	t.Logf("answers: %v", seen)
	for _, k := range []string{"replay", "retry", "list", "full", "delta", "changed=1", "handle=1", "handle=0"} {
		if seen[k] < 20 {
			t.Errorf("only %d answers of kind %s: the histories miss a path", seen[k], k)
		}
	}
}

// dumpState is everything the ping script writes under prefix p, as one comparable string
// (the events without their IDs, which hold the server's clock).
func dumpState(t *testing.T, c *redis.Client, p, run, lease string) string {
	t.Helper()
	ctx := context.Background()
	sites := c.HGetAll(ctx, p+":sites").Val()
	handled := c.HGetAll(ctx, p+":handled").Val()
	changes := c.ZRangeWithScores(ctx, p+":changes", 0, -1).Val()
	var events []map[string]any
	for _, m := range c.XRange(ctx, p+":events", "-", "+").Val() {
		events = append(events, m.Values)
	}
	return fmt.Sprint(sortedMap(sites), sortedMap(handled), changes, events,
		c.Get(ctx, p+":version").Val(), c.Get(ctx, p+":"+run).Val(), c.Get(ctx, p+":"+lease).Val(),
		c.PTTL(ctx, p+":"+run).Val() > 0)
}

func sortedMap(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
