package cloud

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/wire"
)

func testStateKey(t testing.TB) *StateKey {
	t.Helper()
	k, err := NewStateKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretOp is a saved re-point holding every kind of secret, one with a backslash and a quote.
func secretOp() VPNOp {
	return VPNOp{ID: "op1", Gateway: "vpn-1", Connection: "to-hz", NewIP: netip.MustParseAddr("203.0.113.7"), Step: StepSnapshotted,
		Snapshot: ConnSnapshot{Kind: KindDual, Ike: IkeSettings{Psk: `single\psk"1`},
			Tunnels: []TunnelSettings{{Role: "master", Ike: IkeSettings{Psk: "master-s3cret"}}, {Role: "slave", Ike: IkeSettings{Psk: "slave-s3cret"}}},
			CGWs:    map[string]CGWSettings{"cgw-1": {IP: "198.51.100.2", Asn: 65010, AuthKey: "bgp-auth-s3cret"}}}}
}

// TestSavedVPNSecretsEncrypted: the saved settings in Redis hold no PSK or AuthKey in clear,
// read back whole with the key, refuse another key or another Redis key (associated data),
// and a store without a key refuses to save them.
func TestSavedVPNSecretsEncrypted(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	ns := redistest.Namespace()
	s := NewRedis(c, ns, RedisOptions{Key: testStateKey(t)})
	k := TargetKey{Kind: wire.KindVPN, Name: "vpn-1/to-hz"}
	op := secretOp()
	if err := s.PutVPNOp(ctx, k, op); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Get(ctx, ns+":vpnop:vpn-1/to-hz").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"single", "master-s3cret", "slave-s3cret", "bgp-auth-s3cret"} {
		if strings.Contains(raw, secret) {
			t.Fatalf("saved state holds %q in clear: %s", secret, raw)
		}
	}
	got, ok, err := s.GetVPNOp(ctx, k)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if got.Snapshot.Ike.Psk != op.Snapshot.Ike.Psk || got.Snapshot.Tunnels[1].Ike.Psk != "slave-s3cret" || got.Snapshot.CGWs["cgw-1"].AuthKey != "bgp-auth-s3cret" {
		t.Fatalf("read back: got %+v", got.Snapshot)
	}

	// Copied under another connection's key: the associated data differs.
	if err := c.Set(ctx, ns+":vpnop:vpn-1/to-bj", raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetVPNOp(ctx, TargetKey{Kind: wire.KindVPN, Name: "vpn-1/to-bj"}); !errors.Is(err, ErrSealed) {
		t.Fatalf("moved value: got %v, want ErrSealed", err)
	}
	other, _ := NewStateKey([]byte("fedcba9876543210fedcba9876543210"))
	if _, _, err := NewRedis(c, ns, RedisOptions{Key: other}).GetVPNOp(ctx, k); !errors.Is(err, ErrSealed) {
		t.Fatalf("other key: got %v, want ErrSealed", err)
	}
	if err := NewRedis(c, ns, RedisOptions{}).PutVPNOp(ctx, k, op); !errors.Is(err, ErrNoStateKey) {
		t.Fatalf("no key: got %v, want ErrNoStateKey", err)
	}
	if _, err := NewStateKey(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key accepted")
	}
}

// TestConfirmVPNOpWait: against a real redis-server without replicas, confirming a saved
// re-point with one replica required fails within the WAIT timeout (it never blocks), and
// with no replica required (redis.single_node) it is a plain save.
func TestConfirmVPNOpWait(t *testing.T) {
	c := redistest.Client(t)
	ns := redistest.Namespace()
	k := TargetKey{Kind: wire.KindVPN, Name: "vpn-1/to-hz"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := NewRedis(c, ns, RedisOptions{Key: testStateKey(t), Replicas: 1, WaitTimeout: 50 * time.Millisecond}).ConfirmVPNOp(ctx, k, secretOp())
	if !errors.Is(err, ErrNotDurable) {
		t.Fatalf("one replica wanted, none there: got %v, want ErrNotDurable", err)
	}
	if ctx.Err() != nil {
		t.Fatal("WAIT blocked until the test's deadline")
	}
	s := NewRedis(c, ns, RedisOptions{Key: testStateKey(t)})
	if err := s.ConfirmVPNOp(ctx, k, secretOp()); err != nil {
		t.Fatalf("single node: %v", err)
	}
	if _, ok, err := s.GetVPNOp(ctx, k); !ok || err != nil {
		t.Fatalf("saved: %v %v", ok, err)
	}
}

// TestVPNRecreateWaitsForReplica: a single-tunnel re-point whose saved settings no replica
// confirms deletes nothing; on single-node Redis (no replica asked) it completes.
func TestVPNRecreateWaitsForReplica(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		want     wire.State
	}{{"replica required", 1, wire.StateError}, {"single node", 0, wire.StateApplied}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(*aliyunemu.Clock) State {
				return NewRedis(redistest.Client(t), redistest.Namespace(), RedisOptions{Key: testStateKey(t), Replicas: tc.replicas, WaitTimeout: 20 * time.Millisecond})
			})
			res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing)
			if res.State != tc.want {
				t.Fatalf("got %s (%v), want %s", res.State, res.Err, tc.want)
			}
			if tc.replicas > 0 {
				if !errors.Is(res.Err, ErrNotDurable) || e.emu.Calls("DeleteVpnConnection") != 0 || len(e.named(connNm)) != 1 {
					t.Fatalf("got %v, deletes %d: want ErrNotDurable and the connection kept", res.Err, e.emu.Calls("DeleteVpnConnection"))
				}
				return
			}
			e.checkRepointed(newIP)
		})
	}
}

// TestVPNVanished: a connection deleted after its target was applied is reported as
// vanished (ErrVanished), not merely not found; one never applied is just not found.
func TestVPNVanished(t *testing.T) {
	e := newEnv(t, nil)
	if res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing); res.State != wire.StateApplied {
		t.Fatalf("re-point: %s (%v)", res.State, res.Err)
	}
	conns := e.named(connNm)
	if _, err := e.r.VPC.DeleteVpnConnection(&vpc.DeleteVpnConnectionRequest{RegionId: tea.String(e.emu.Region()), VpnConnectionId: tea.String(conns[0].ID)}); err != nil {
		t.Fatal(err)
	}
	res := e.vpn(e.ctx(time.Minute), newIP, ModeTimer)
	if res.State != wire.StateError || !errors.Is(res.Err, ErrVanished) {
		t.Fatalf("after delete: got %s (%v), want error ErrVanished", res.State, res.Err)
	}

	fresh := newBareEnv(t, nil)
	fresh.emu.AddVpnGateway(gwID, "47.0.0.1")
	if res := fresh.vpn(fresh.ctx(time.Minute), newIP, ModeTimer); !errors.Is(res.Err, ErrNotFound) || errors.Is(res.Err, ErrVanished) {
		t.Fatalf("never applied: got %v, want ErrNotFound only", res.Err)
	}
}
