package cloud

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/redistest"
)

// stores returns a constructor per State implementation; the Redis one uses a real
// redis-server (internal/redistest) and a fresh key namespace.
func stores(t *testing.T) map[string]func(*aliyunemu.Clock) State {
	return map[string]func(*aliyunemu.Clock) State{
		"memory": func(c *aliyunemu.Clock) State { return NewMemory(c.Now) },
		"redis": func(*aliyunemu.Clock) State {
			return NewRedis(redistest.Client(t), redistest.Namespace(), RedisOptions{Key: testStateKey(t)})
		},
	}
}

// TestStateContract runs one suite against the memory and the Redis store.
func TestStateContract(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) State{
		"memory": func(*testing.T) State { return NewMemory(nil) },
		"redis": func(t *testing.T) State {
			return NewRedis(redistest.Client(t), redistest.Namespace(), RedisOptions{Key: testStateKey(t)})
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			ctx := context.Background()
			k := TargetKey{Kind: "vpn", Name: "vpn-1/to-hz"}
			if _, ok, err := s.GetTarget(ctx, k); ok || err != nil {
				t.Fatalf("missing target: got %v, %v", ok, err)
			}
			want := TargetState{DesiredIP: netip.MustParseAddr("203.0.113.7"), AppliedIP: netip.MustParseAddr("198.51.100.2"),
				State: "pending", Attempts: 2, LastError: "x", UpdatedAt: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
				LastRepoint: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
			if err := s.PutTarget(ctx, k, want); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.GetTarget(ctx, k)
			if !ok || err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("target round trip: got %+v, %v, %v; want %+v", got, ok, err, want)
			}
			op := VPNOp{ID: "op1", Gateway: "vpn-1", Connection: "to-hz", OldIP: want.AppliedIP, NewIP: want.DesiredIP,
				OldCGW: "cgw-1", OldCGWs: []string{"cgw-1"}, OldConnID: "vco-1", Step: StepSnapshotted, Modified: true, StartedAt: want.UpdatedAt,
				Snapshot: ConnSnapshot{Kind: KindDual, Name: "to-hz", EnableTunnelsBgp: true, Health: &HealthSettings{Enable: true, Dip: "192.168.1.1"},
					Tags: []Tag{{Key: "a", Value: "b"}},
					Tunnels: []TunnelSettings{{ID: "tun-1", Role: "master", CustomerGatewayID: "cgw-1", EnableDpd: true,
						Ike: IkeSettings{Psk: "k", IkeLifetime: 86400, RemoteId: "198.51.100.2"}, Ipsec: IpsecSettings{IpsecLifetime: 3600},
						Bgp: TunnelBgp{LocalAsn: 45104, TunnelCidr: "169.254.10.0/30", LocalBgpIp: "169.254.10.1"}}},
					CGWs: map[string]CGWSettings{"cgw-1": {IP: "198.51.100.2", Asn: 65010, AuthKey: "bgp"}}}}
			if err := s.PutVPNOp(ctx, k, op); err != nil {
				t.Fatal(err)
			}
			gotOp, ok, err := s.GetVPNOp(ctx, k)
			if !ok || err != nil || !reflect.DeepEqual(gotOp, op) {
				t.Fatalf("op round trip: got %+v, %v, %v", gotOp, ok, err)
			}
			if got, err := s.Unfinished(ctx); err != nil || len(got) != 0 {
				t.Fatalf("Unfinished of an empty store: got %v, %v", got, err)
			}
			k2 := TargetKey{Kind: "dns", Name: "hz.example.com/A"}
			for _, kk := range []TargetKey{k, k2, k} {
				if err := s.SetUnfinished(ctx, kk, true); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SetUnfinished(ctx, k2, false); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Unfinished(ctx); err != nil || !reflect.DeepEqual(got, []TargetKey{k}) {
				t.Fatalf("Unfinished: got %v, %v; want [%v]", got, err, k)
			}
			if err := s.DeleteVPNOp(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.GetVPNOp(ctx, k); ok {
				t.Fatal("op survived delete")
			}
			tok, ok, err := s.Lock(ctx, k, time.Minute)
			if !ok || err != nil || tok == "" {
				t.Fatalf("lock: got %q, %v, %v", tok, ok, err)
			}
			if _, ok, _ := s.Lock(ctx, k, time.Minute); ok {
				t.Fatal("second lock taken while held")
			}
			if _, ok, _ := s.Lock(ctx, TargetKey{Kind: "dns", Name: "vpn-1/to-hz"}, time.Minute); !ok {
				t.Fatal("locks of different kinds collide")
			}
			if err := s.Unlock(ctx, k, "not-mine"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Lock(ctx, k, time.Minute); ok {
				t.Fatal("unlock with a foreign token released the lock")
			}
			if err := s.Unlock(ctx, k, tok); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Lock(ctx, k, time.Minute); !ok {
				t.Fatal("lock not free after unlock")
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.PutTarget(cctx, k, want); err == nil {
				t.Fatal("write with a cancelled context succeeded")
			}
		})
	}
}

func TestMemoryLockExpires(t *testing.T) {
	c := aliyunemu.NewClock(time.Now())
	s := NewMemory(c.Now)
	k := TargetKey{Kind: "vpn", Name: "x"}
	ctx := context.Background()
	if _, ok, _ := s.Lock(ctx, k, time.Minute); !ok {
		t.Fatal("lock")
	}
	c.Advance(time.Minute)
	if _, ok, _ := s.Lock(ctx, k, time.Minute); !ok {
		t.Fatal("expired lock (a killed holder) not taken over")
	}
}

func TestRedisKeysShareHashTag(t *testing.T) {
	c := redistest.Client(t)
	ns := redistest.Namespace()
	s := NewRedis(c, ns, RedisOptions{Key: testStateKey(t)})
	ctx := context.Background()
	k := TargetKey{Kind: "dns", Name: "hz.example.com/A"}
	_ = s.PutTarget(ctx, k, TargetState{State: "applied"})
	_ = s.PutVPNOp(ctx, TargetKey{Kind: "vpn", Name: "g/c"}, VPNOp{ID: "1"})
	_, _, _ = s.Lock(ctx, k, time.Minute)
	keys, err := c.Keys(ctx, ns+":*").Result()
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys: got %v, %v", keys, err)
	}
	for _, want := range []string{ns + ":target:dns:hz.example.com/A", ns + ":vpnop:g/c", ns + ":lock:dns:hz.example.com/A"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Fatalf("key %s missing from %v", want, keys)
		}
	}
}

// TestUnfinishedOrder: both stores list the marked targets sorted by key, and an empty
// list (not nil) when none is marked, first and once all are cleared.
func TestUnfinishedOrder(t *testing.T) {
	ctx := context.Background()
	keys := []TargetKey{ // marked in this order, listed sorted
		{Kind: "vpn", Name: "vpn-2/to-gz#slave"}, {Kind: "dns", Name: "hz.example.com/AAAA"}, {Kind: "vpn", Name: "vpn-1/to-hz"},
		{Kind: "dns", Name: "bj.example.com/A"}, {Kind: "vpn", Name: "vpn-2/to-gz#master"},
	}
	want := []TargetKey{keys[3], keys[1], keys[2], keys[4], keys[0]}
	got := map[string][][]TargetKey{}
	for name, mk := range stores(t) {
		s := mk(aliyunemu.NewClock(time.Now()))
		list := func() []TargetKey {
			t.Helper()
			l, err := s.Unfinished(ctx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return l
		}
		got[name] = append(got[name], list())
		for _, k := range keys {
			if err := s.SetUnfinished(ctx, k, true); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 { // the memory store's map answers in a different order each time
			if l := list(); !reflect.DeepEqual(l, want) {
				t.Fatalf("%s: got %v, want %v", name, l, want)
			}
		}
		got[name] = append(got[name], list())
		for _, k := range keys {
			if err := s.SetUnfinished(ctx, k, false); err != nil {
				t.Fatal(err)
			}
		}
		got[name] = append(got[name], list())
		if l := got[name]; l[0] == nil || len(l[0]) != 0 || l[2] == nil || len(l[2]) != 0 {
			t.Fatalf("%s: got %#v and %#v with nothing marked, want empty lists", name, l[0], l[2])
		}
	}
	if !reflect.DeepEqual(got["memory"], got["redis"]) {
		t.Fatalf("the stores disagree:\nmemory %#v\n redis %#v", got["memory"], got["redis"])
	}
}
