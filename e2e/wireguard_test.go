//go:build e2e

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wgPrefix starts the WireGuard interface names (their wireguard-go sockets live in the
// shared /var/run/wireguard, so names carry the run's suffix).
const wgPrefix = "ppw"

// wgKeepalive is the peers' persistent keepalive: the value wg(8) suggests for peers
// behind NAT. It is what lets WireGuard roam by itself when one side moves.
const wgKeepalive = 25 * time.Second

const wgPort = 51820

// wgIface is a WireGuard interface of an office: wireguard-go runs it, its private key is
// in keyFile.
type wgIface struct {
	name, pub, keyFile string
}

// newWGIface generates a key pair, starts wireguard-go for a new interface in the office's
// namespace and waits for the interface to appear.
func (l *lab) newWGIface(o *office, name string) wgIface {
	t := l.t
	t.Helper()
	priv := strings.TrimSpace(run(t, "wg", "genkey"))
	cmd := exec.Command("wg", "pubkey")
	cmd.Stdin = strings.NewReader(priv + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wg pubkey: %v", err)
	}
	w := wgIface{name: name, pub: strings.TrimSpace(string(out)), keyFile: filepath.Join(o.dir, name+".key")}
	if err := os.WriteFile(w.keyFile, []byte(priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.ns.start(t, "wireguard-go "+o.site+" "+name, []string{"PATH=" + os.Getenv("PATH"), "LOG_LEVEL=error"},
		"wireguard-go", "-f", name)
	if _, ok := poll(10*time.Second, 50*time.Millisecond, func() bool {
		_, err := tryRun("ip", "-n", string(o.ns), "link", "show", name)
		return err == nil
	}); !ok {
		t.Fatalf("wireguard-go did not create %s in %s within 10s", name, o.ns)
	}
	return w
}

// wireguard builds a WireGuard tunnel between the offices (wireguard-go in each office
// namespace, configured with wg; endpoint = the other office's WAN address; the other
// office's LAN routed into it) and returns each office's pinger config for the wireguard
// driver.
func (l *lab) wireguard() map[*office]string {
	t := l.t
	type side struct {
		o  *office
		wg wgIface
	}
	sides := []*side{{o: l.a}, {o: l.b}}
	for i, s := range sides {
		s.wg = l.newWGIface(s.o, wgPrefix+string(rune('a'+i))+"-"+l.id)
	}
	conf := map[*office]string{}
	for i, s := range sides {
		peer := sides[1-i]
		s.o.ns.exec(t, "wg", "set", s.wg.name, "listen-port", fmt.Sprint(wgPort), "private-key", s.wg.keyFile,
			"peer", peer.wg.pub, "endpoint", netip.AddrPortFrom(peer.o.wan, wgPort).String(),
			"allowed-ips", peer.o.lan.String(), "persistent-keepalive", fmt.Sprint(int(wgKeepalive/time.Second)))
		s.o.ns.ip(t, "link", "set", s.wg.name, "up")
		s.o.ns.ip(t, "route", "add", peer.o.lan.String(), "dev", s.wg.name)

		path := filepath.Join(s.o.dir, "pinger.yaml")
		yaml := fmt.Sprintf("wireguard:\n  peers:\n    %s: { interface: %s, public_key: %q, port: %d }\n",
			peer.o.site, s.wg.name, peer.wg.pub, wgPort)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		conf[s.o] = path
	}
	return conf
}

// retryWait is the pinger's wait after its n-th consecutive failed cycle (5 s doubling).
func retryWait(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// jittered is d plus the pinger's 10 % jitter.
func jittered(d time.Duration) time.Duration { return d + d/10 }

// TestWireGuardHeals moves the offices' WAN addresses under a WireGuard tunnel driven by
// the pinger's wireguard driver and measures how long LAN-to-LAN traffic takes to flow
// again: B alone with ppter's driver on and off (WireGuard roams by itself then), both
// offices at once (roaming cannot heal that), and both while the function is unreachable.
func TestWireGuardHeals(t *testing.T) {
	requireHost(t, "ip", "go", "redis-server", "ping", "wireguard-go", "wg")
	l := newLab(t)
	conf := l.wireguard()
	on := func(o *office) []string { return []string{"--driver", "wireguard", "--config", conf[o]} }
	off := []string{"--driver", "exec", "--exec", "true"}
	for _, o := range []*office{l.a, l.b} {
		l.startPinger(o, on(o)...)
	}
	if _, ok := l.waitHeal(30 * time.Second); !ok {
		t.Fatal("LAN-to-LAN traffic does not flow through the tunnel at the start")
	}
	l.assertCloud(l.a, l.b)
	if t.Failed() {
		t.FailNow()
	}

	h := &heals{l: l, name: "wireguard"}
	restore := func() {
		t.Helper()
		if _, ok := l.waitHeal(healTimeout); !ok {
			t.Fatal("the tunnel did not come back before the next case")
		}
	}
	defer h.report()

	// 1. Only B moves; ppter's driver on.
	l.move(l.b, netip.MustParseAddr("192.0.2.20"))
	h.measure("b-moves-ppter-on", healTimeout, l.b)
	l.assertCloud(l.b)

	// 2. Only B moves; ppter's driver off (the exec driver runs `true`): whatever heals the
	// tunnel now is WireGuard's roaming, when B's keepalive reaches A from the new address.
	l.stopPingers()
	for _, o := range []*office{l.a, l.b} {
		l.startPinger(o, off...)
	}
	l.move(l.b, netip.MustParseAddr("192.0.2.21"))
	// Only reported: ppter is not what heals it.
	if d, ok := l.waitHeal(wgKeepalive + 20*time.Second); ok {
		t.Logf("b-moves-ppter-off: LAN-to-LAN traffic flows again after %.1fs", d.Seconds())
		h.summary = append(h.summary, fmt.Sprintf("b-moves-ppter-off=%.1fs", d.Seconds()))
	} else {
		h.summary = append(h.summary, "b-moves-ppter-off=no-heal-in-"+(wgKeepalive+20*time.Second).String())
	}
	l.assertCloud(l.b)
	l.stopPingers()
	for _, o := range []*office{l.a, l.b} {
		l.startPinger(o, on(o)...)
	}
	restore()

	// 3. Both offices move at once: each keeps sending to the other's old address, so only
	// ppter can heal this.
	l.move(l.a, netip.MustParseAddr("203.0.113.31"))
	l.move(l.b, netip.MustParseAddr("203.0.113.32"))
	h.measure("both-move", healTimeout, l.a, l.b)
	l.assertCloud(l.a, l.b)
	restore()

	// 4. The function becomes unreachable (the cloud's link to the internet goes down): the
	// tunnel carries on; both offices move while it is down, which nothing can heal until
	// the function is back.
	l.inet.ip(t, "link", "set", "cloud", "down")
	downAt := time.Now()
	if _, ok := poll(5*time.Second, 250*time.Millisecond, l.lanPing); !ok {
		t.Error("the tunnel broke when the function became unreachable")
	}
	fa, fb := failures(l.a), failures(l.b)
	fa0, fb0 := fa, fb
	waitFailures := func() {
		t.Helper()
		if _, ok := poll(90*time.Second, 250*time.Millisecond, func() bool {
			return failures(l.a) > fa && failures(l.b) > fb
		}); !ok {
			t.Fatalf("pingers did not report the unreachable function within 90s (failed cycles: %s %d, %s %d)",
				l.a.site, failures(l.a), l.b.site, failures(l.b))
		}
		fa, fb = failures(l.a), failures(l.b)
	}
	waitFailures()
	l.move(l.a, netip.MustParseAddr("198.51.100.11"))
	l.move(l.b, netip.MustParseAddr("198.51.100.21"))
	waitFailures() // both have tried from their new addresses and failed
	if l.lanPing() {
		t.Error("LAN-to-LAN traffic flows although both offices moved while the function was unreachable")
	}
	l.inet.ip(t, "link", "set", "cloud", "up")
	t.Logf("function unreachable for %.1fs", time.Since(downAt).Seconds())
	d, ok := l.waitHeal(3 * time.Minute)
	if !ok {
		t.Fatal("function-outage: LAN-to-LAN traffic did not flow again within 3m")
	}
	// After the outage a pinger may still be waiting out its retry (5 s doubling per failed
	// cycle) or finishing a failing attempt (10 s connect timeout); then the other office's
	// next regular cycle learns the address.
	n := max(failures(l.a)-fa0, failures(l.b)-fb0)
	bound := 10*time.Second + jittered(retryWait(n)) + jittered(interval) + handshake
	if d >= bound {
		t.Errorf("function-outage: healed %.1fs after the function came back, want < %s (%d failed cycles)", d.Seconds(), bound, n)
	}
	t.Logf("function-outage: LAN-to-LAN traffic flows again %.1fs after the function came back (bound %s)", d.Seconds(), bound)
	h.summary = append(h.summary, fmt.Sprintf("function-outage=%.1fs (outage-bound=%s)", d.Seconds(), bound))
	l.assertCloud(l.a, l.b)
}
