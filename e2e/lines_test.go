//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// bj's lines in the two-line lab: telecom, its default line, is the wan port every office
// has; unicom is a second port on the same internet segment. Each line has its own routing
// table, picked by its tunnel's WireGuard fwmark and, for the pinger's pings, by the source
// address (telecom, a static address) or the bound interface (unicom, whose address the
// ISP changes) — the policy routing of a multi-WAN router (OpenWrt's mwan3 and the like).
var bjLines = []struct {
	name, port, table, mark string
}{
	{"telecom", "wan", "101", "0x1"},
	{"unicom", "wan2", "102", "0x2"},
}

// twoLines returns a newLab setup that makes bj a two-line office: the function declares
// lines telecom and unicom, and unicom (an office value standing for bj's second line) gets
// its port with address at.
func twoLines(unicom *office, at netip.Addr) func(*lab) {
	return func(l *lab) {
		t, bj := l.t, l.b
		bj.lines = []string{bjLines[0].name, bjLines[1].name}
		*unicom = office{site: bj.site, ns: bj.ns, wan: at, port: bjLines[1].port, table: bjLines[1].table}
		l.port(bj.ns, unicom.port, "bj-"+bjLines[1].name, at)
		// Each port answers ARP only for its own address (the lines are different ISPs), and
		// a packet may come in by a port its source is not routed through.
		bj.ns.exec(t, "sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.wan.rp_filter=0", "net.ipv4.conf.wan2.rp_filter=0")
		for _, ln := range bjLines {
			wanRoutes(t, bj.ns, ln.port, ln.table)
			bj.ns.ip(t, "rule", "add", "fwmark", ln.mark, "lookup", ln.table)
		}
		bj.ns.ip(t, "rule", "add", "from", bj.wan.String(), "lookup", bjLines[0].table)
		bj.ns.ip(t, "rule", "add", "oif", unicom.port, "lookup", bjLines[1].table)
	}
}

// lineTunnel is a WireGuard tunnel between hz and one of bj's lines: an interface at each
// end (both listening on port), with the inner addresses hzIP and bjIP.
type lineTunnel struct {
	line       string
	port       uint16
	hz, bj     wgIface
	hzIP, bjIP netip.Addr
}

// lineTunnels builds hz's two tunnels to bj, one per line, as a router with two WireGuard
// interfaces does: hz's peer endpoint is the line's address (bj's telecom address, and
// unicom's address), bj's interface carries the line's fwmark so its packets leave by that
// line. hz keeps the tunnels alive; bj has no keepalive of its own, so when a line of bj
// moves, WireGuard's roaming (hz following bj's first packet from the new address) comes
// only with bj's next handshake, 15 s after its last packet that got no answer: later than
// a heal by ppter may take, which the test tells apart also by the driver's log.
func (l *lab) lineTunnels(unicom *office) []*lineTunnel {
	t, hz, bj := l.t, l.a, l.b
	var tunnels []*lineTunnel
	lineAt := []netip.Addr{bj.wan, unicom.wan} // in bjLines' order
	for i, ln := range bjLines {
		at := lineAt[i]
		tu := &lineTunnel{line: ln.name, port: uint16(wgPort + i),
			hzIP: netip.AddrFrom4([4]byte{10, 9, byte(i + 1), 1}), bjIP: netip.AddrFrom4([4]byte{10, 9, byte(i + 1), 2})}
		tu.hz = l.newWGIface(hz, fmt.Sprintf("%sh%c-%s", wgPrefix, ln.name[0], l.id))
		tu.bj = l.newWGIface(bj, fmt.Sprintf("%sb%c-%s", wgPrefix, ln.name[0], l.id))
		port := fmt.Sprint(tu.port)
		hz.ns.exec(t, "wg", "set", tu.hz.name, "listen-port", port, "private-key", tu.hz.keyFile,
			"peer", tu.bj.pub, "endpoint", netip.AddrPortFrom(at, tu.port).String(),
			"allowed-ips", host32(tu.bjIP), "persistent-keepalive", fmt.Sprint(int(wgKeepalive/time.Second)))
		bj.ns.exec(t, "wg", "set", tu.bj.name, "listen-port", port, "private-key", tu.bj.keyFile, "fwmark", ln.mark,
			"peer", tu.hz.pub, "endpoint", netip.AddrPortFrom(hz.wan, tu.port).String(), "allowed-ips", host32(tu.hzIP))
		for _, end := range []struct {
			o     *office
			iface string
			ip    netip.Addr
		}{{hz, tu.hz.name, tu.hzIP}, {bj, tu.bj.name, tu.bjIP}} {
			end.o.ns.ip(t, "addr", "add", netip.PrefixFrom(end.ip, 30).String(), "dev", end.iface)
			end.o.ns.ip(t, "link", "set", end.iface, "up")
		}
		tunnels = append(tunnels, tu)
	}
	return tunnels
}

// lineConfigs writes the pingers' config files: hz's wireguard driver maps bj/telecom and
// bj/unicom to their tunnels; bj's pinger reports both lines (telecom from its address,
// unicom by its port) and maps hz to its telecom tunnel (the driver maps a peer line to one
// local peer, so bj's unicom tunnel keeps the endpoint hz was given: hz never moves here).
func (l *lab) lineConfigs(tunnels []*lineTunnel, unicom *office) (hzConf, bjConf string) {
	var hz strings.Builder
	hz.WriteString("wireguard:\n  peers:\n")
	for _, tu := range tunnels {
		fmt.Fprintf(&hz, "    %s/%s: { interface: %s, public_key: %q, port: %d }\n", l.b.site, tu.line, tu.hz.name, tu.bj.pub, tu.port)
	}
	bj := fmt.Sprintf(`lines:
  - { name: %s, bind_address: %s }
  - { name: %s, interface: %s }
wireguard:
  peers:
    %s: { interface: %s, public_key: %q, port: %d }
`, bjLines[0].name, l.b.wan, bjLines[1].name, unicom.port, l.a.site, tunnels[0].bj.name, tunnels[0].hz.pub, tunnels[0].port)
	write := func(o *office, yaml string) string {
		path := filepath.Join(o.dir, "pinger-lines.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			l.t.Fatal(err)
		}
		return path
	}
	return write(l.a, hz.String()), write(l.b, bj)
}

// wgEndpoint returns the endpoint of the one peer of a wireguard-go interface, read from
// its UAPI socket (no process is started, so it can be read often).
func wgEndpoint(ctx context.Context, iface string) (string, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/wireguard/"+iface+".sock")
	if err != nil {
		return "", fmt.Errorf("uapi %s: %w", iface, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("get=1\n\n")); err != nil {
		return "", fmt.Errorf("uapi %s: %w", iface, err)
	}
	var ep string
	sc := bufio.NewScanner(c)
	for sc.Scan() && sc.Text() != "" {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch {
		case k == "endpoint":
			ep = v
		case k == "errno" && v != "0":
			return "", fmt.Errorf("uapi %s: errno %s", iface, v)
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("uapi %s: %w", iface, err)
	}
	return ep, nil
}

// endpointLog is every endpoint some interfaces' peers held, read every 100 ms until the
// end of the test.
type endpointLog struct {
	mu    sync.Mutex
	held  map[string][]string // interface → its endpoints in the order they appeared
	fails int
	err   error // the first failed read
}

func watchEndpoints(t *testing.T, ifaces ...string) *endpointLog {
	e := &endpointLog{held: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, iface := range ifaces {
				ep, err := wgEndpoint(ctx, iface)
				e.mu.Lock()
				switch h := e.held[iface]; {
				case err != nil:
					e.fails++
					if e.err == nil {
						e.err = err
					}
				case len(h) == 0 || h[len(h)-1] != ep:
					e.held[iface] = append(h, ep)
				}
				e.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// of returns the endpoints iface's peer held so far.
func (e *endpointLog) of(iface string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.held[iface])
}

// failed returns how many reads failed so far, and the first error.
func (e *endpointLog) failed() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fails, e.err
}

// echoReply is a reply line of `ping -D`: the time it came and its sequence number.
var echoReply = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from [0-9.]+: icmp_seq=(\d+) `)

// startEchoes sends a ping every 200 ms from hz through the tunnel until the test ends.
func (l *lab) startEchoes(tu *lineTunnel) *proc {
	return l.a.ns.start(l.t, "echoes over "+tu.line, []string{"PATH=" + os.Getenv("PATH")},
		"ping", "-n", "-D", "-i", "0.2", "-I", tu.hzIP.String(), tu.bjIP.String())
}

// echoes reads the replies p has logged: sequence number → when it came.
func echoes(p *proc) map[int]time.Time {
	got := map[int]time.Time{}
	for _, line := range p.log.linesFrom(0) {
		m := echoReply.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, err1 := strconv.ParseFloat(m[1], 64)
		seq, err2 := strconv.Atoi(m[2])
		if err1 == nil && err2 == nil {
			got[seq] = time.Unix(0, int64(sec*1e9))
		}
	}
	return got
}

// echoLoss returns how many echoes got no reply between the first and the last one that
// did, how many were sent in that span, the longest time without a reply and the last reply.
func echoLoss(got map[int]time.Time) (lost, sent int, gap time.Duration, last time.Time) {
	seqs := slices.Sorted(maps.Keys(got))
	if len(seqs) == 0 {
		return 0, 0, 0, time.Time{}
	}
	sent = seqs[len(seqs)-1] - seqs[0] + 1
	prev := got[seqs[0]]
	for _, s := range seqs[1:] {
		gap = max(gap, got[s].Sub(prev))
		prev = got[s]
	}
	return sent - len(seqs), sent, gap, prev
}

// siteLines returns the function's record of each of a site's lines, from /v1/status.
func (l *lab) siteLines(name string) ([]wire.PeerLine, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url+"/v1/status?events=0", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.adminToken)
	c := &http.Client{Transport: &http.Transport{DialContext: l.cloud.dial}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status: %s", resp.Status)
	}
	var f struct {
		Sites []struct {
			Name  string          `json:"name"`
			Lines []wire.PeerLine `json:"lines"`
		} `json:"sites"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	for _, s := range f.Sites {
		if s.Name == name {
			return s.Lines, nil
		}
	}
	return nil, fmt.Errorf("status: no site %s", name)
}

// lineOf returns the record of line name among lines.
func lineOf(lines []wire.PeerLine, name string) (wire.PeerLine, bool) {
	i := slices.IndexFunc(lines, func(p wire.PeerLine) bool { return p.Name == name })
	if i < 0 {
		return wire.PeerLine{}, false
	}
	return lines[i], true
}

// TestTwoLines: bj has two lines (telecom and unicom, two ports on the internet) and one
// pinger reporting both; hz has a WireGuard tunnel to each line, its wireguard driver
// mapping bj/telecom and bj/unicom. bj's unicom line moves: the unicom tunnel heals (hz's
// driver re-points it to the new address, within the ping cycles a heal needs), while the
// telecom tunnel carries a ping every 200 ms throughout without losing one, its endpoint
// on hz never changes, and neither does the function's record of bj/telecom nor the cloud
// targets that follow bj's default line.
func TestTwoLines(t *testing.T) {
	requireHost(t, "ip", "go", "redis-server", "ping", "wireguard-go", "wg", "sysctl")
	unicom := &office{}
	l := newLab(t, twoLines(unicom, netip.MustParseAddr("203.0.113.20")))
	hz, bj := l.a, l.b
	tunnels := l.lineTunnels(unicom)
	tel, uni := tunnels[0], tunnels[1]
	eps := watchEndpoints(t, tel.hz.name, uni.hz.name)
	telAt := netip.AddrPortFrom(bj.wan, tel.port).String()
	hzConf, bjConf := l.lineConfigs(tunnels, unicom)
	l.startPinger(hz, "--driver", "wireguard", "--config", hzConf)
	l.startPinger(bj, "--driver", "wireguard", "--config", bjConf)

	probe := func(tu *lineTunnel) func() bool { return func() bool { return pingOnce(hz.ns, tu.hzIP, tu.bjIP) } }
	for _, tu := range tunnels {
		if _, ok := poll(30*time.Second, 250*time.Millisecond, probe(tu)); !ok {
			t.Fatalf("no traffic through the %s tunnel at the start", tu.line)
		}
	}
	// hz's driver has been given both of bj's lines, each its own address.
	for _, w := range []struct {
		line string
		at   netip.Addr
	}{{tel.line, bj.wan}, {uni.line, unicom.wan}} {
		applied := fmt.Sprintf("peer %s/%s ipv4 none -> %s", bj.site, w.line, w.at)
		if _, ok := poll(30*time.Second, 100*time.Millisecond, func() bool { return hz.pinger.log.count(applied) > 0 }); !ok {
			t.Fatalf("hz's pinger did not apply %q within 30s", applied)
		}
	}
	l.assertCloud(bj) // the DNS record and the VPN connection follow bj's default line, telecom
	before, err := l.siteLines(bj.site)
	if err != nil {
		t.Fatal(err)
	}
	telBefore, ok := lineOf(before, tel.line)
	if !ok || telBefore.IPv4 != bj.wan {
		t.Fatalf("the function's record of bj's lines at the start: %+v, want %s at %s", before, tel.line, bj.wan)
	}
	if t.Failed() {
		t.FailNow()
	}

	echo := l.startEchoes(tel)
	if _, ok := poll(10*time.Second, 100*time.Millisecond, func() bool { return len(echoes(echo)) > 0 }); !ok {
		t.Fatal("no echo reply through the telecom tunnel within 10s")
	}
	h := &heals{l: l, name: "two-lines", probe: probe(uni), what: "traffic through the unicom tunnel"}
	defer h.report()

	from := unicom.wan
	l.move(unicom, netip.MustParseAddr("192.0.2.40"))
	start := time.Now()
	healed := start.Add(h.measure("unicom-moves", healTimeout, unicom))

	// (a) The unicom tunnel was re-pointed by ppter, straight to the new address.
	uniAt := netip.AddrPortFrom(unicom.wan, uni.port).String()
	if got, err := wgEndpoint(context.Background(), uni.hz.name); err != nil || got != uniAt {
		t.Errorf("hz's unicom tunnel endpoint: %q (%v), want %s", got, err, uniAt)
	}
	if got, want := eps.of(uni.hz.name), []string{netip.AddrPortFrom(from, uni.port).String(), uniAt}; !slices.Equal(got, want) {
		t.Errorf("hz's unicom tunnel endpoints over the run: %q, want %q", got, want)
	}
	if applied := fmt.Sprintf("peer %s/%s ipv4 %s -> %s", bj.site, uni.line, from, unicom.wan); hz.pinger.log.count(applied) != 1 {
		t.Errorf("hz's pinger logged %q %d times, want once", applied, hz.pinger.log.count(applied))
	}

	// (b) The telecom tunnel carried traffic throughout: every echo since the first reply
	// answered (it takes one more after the heal to end the span), and hz's endpoint of
	// it never changed.
	if _, ok := poll(10*time.Second, 100*time.Millisecond, func() bool {
		_, _, _, last := echoLoss(echoes(echo))
		return last.After(healed.Add(time.Second))
	}); !ok {
		t.Error("no echo reply through the telecom tunnel in the 10s after the heal")
	}
	echo.stop()
	lost, sent, gap, _ := echoLoss(echoes(echo))
	if lost > 0 {
		t.Errorf("the telecom tunnel lost %d of %d echoes while bj's unicom line moved (longest time without a reply %.1fs)", lost, sent, gap.Seconds())
	}
	t.Logf("telecom tunnel: %d echoes sent while bj's unicom line moved, %d lost, longest time without a reply %.2fs", sent, lost, gap.Seconds())
	if got := eps.of(tel.hz.name); !slices.Equal(got, []string{telAt}) {
		t.Errorf("hz's telecom tunnel endpoints over the run: %q, want only %s", got, telAt)
	}
	if n, err := eps.failed(); n > 0 {
		t.Logf("%d endpoint reads failed, the first: %v", n, err)
	}

	// (c) The function's record of bj/telecom never changed, nor did what follows bj's
	// default line; its record of bj/unicom is the new address.
	after, err := l.siteLines(bj.site)
	if err != nil {
		t.Fatal(err)
	}
	if telAfter, _ := lineOf(after, tel.line); telAfter.IPv4 != telBefore.IPv4 || !telAfter.ChangedAt.Equal(telBefore.ChangedAt) {
		t.Errorf("the function's record of bj/telecom changed: %+v, was %+v", telAfter, telBefore)
	}
	if uniAfter, _ := lineOf(after, uni.line); uniAfter.IPv4 != unicom.wan {
		t.Errorf("the function's record of bj/unicom: %+v, want %s", uniAfter, unicom.wan)
	}
	if ok, got := l.cloudHolds(bj); !ok {
		t.Errorf("the cloud targets following bj's default line changed: %s, want %s", got, bj.wan)
	}
	h.summary = append(h.summary, fmt.Sprintf("telecom-lost=%d/%d telecom-longest-gap=%.2fs", lost, sent, gap.Seconds()))
}
