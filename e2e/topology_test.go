//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/fcemu"
)

// interval is the pingers' --watch interval and the function's ping.interval.
const interval = 5 * time.Second

// handshake is the allowance for a tunnel's own handshake (and the test's 0.75 s probe
// resolution) on top of ppter's ping cycles.
const handshake = 5 * time.Second

// healTimeout is how long a case waits for LAN-to-LAN traffic before it fails. Whether a
// heal took more ping cycles than it needs is asserted by counting cycles (see heal), not
// by this wall-clock limit, which only catches a heal that never comes.
const healTimeout = 60 * time.Second

// Addresses of the small internet. The cloud is fixed; offices move.
var (
	cloudWAN  = netip.MustParseAddr("203.0.113.10")
	zone      = "example.com"
	gatewayID = "vpn-bp1e2e00000000001"
	// e2eStateKey encrypts the saved VPN settings (PPTER_STATE_KEY; VPN targets need one).
	e2eStateKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)

// office is one office namespace: a WAN address on the internet segment, a LAN address,
// a tunnel to the other office and a pinger.
type office struct {
	site  string // ppter site name
	ns    netns
	wan   netip.Addr
	lan   netip.Prefix
	lanIP netip.Addr
	key   string // the site's ppter secret
	dir   string
	// lines are the site's declared lines (the function's sites.X.lines); none: one
	// unnamed line, the wan port.
	lines []string
	// port holds wan and table has the routes of the internet segment through it: "wan" and
	// "main" for an office's default line. An office value also stands for another line of
	// an office (same site and namespace, its own port and table).
	port, table string

	pinger  *proc
	gen     int       // pinger generation (a fresh state file per start)
	movedAt time.Time // when the office last got a new WAN address
}

// lab is one run's small internet.
type lab struct {
	t    *testing.T
	id   string
	inet netns // the "internet": a bridge every WAN port hangs on
	// cloud runs Redis, the function under the FC emulator and the cloud API emulator.
	cloud     netns
	fnLog     *lineLog // the function's output: one JSON line per request
	fnRead    int      // lines of fnLog parsed into fnPings
	fnPings   []fnPing // the pings the function answered
	a, b      *office
	ali       *aliyunemu.Server
	emu       *fcemu.Emulator
	url       string
	pingerBin string
	// adminToken opens the function's /v1/status.
	adminToken string
}

// newLab builds the namespaces, the internet segment, the offices' WAN and LAN addresses,
// runs each setup (which may declare lines and add ports) and starts the cloud. Tunnels and
// pingers are the caller's.
func newLab(t *testing.T, setup ...func(*lab)) *lab {
	t.Helper()
	cleanLeftovers(t)
	id := runID()
	l := &lab{t: t, id: id}
	t.Logf("run %s: namespaces %s%s-*", id, prefix, id)

	pingerBin := make(chan string, 1)
	go func() { pingerBin <- buildPinger(t) }()

	l.inet = newNetns(t, prefix+id+"-inet")
	l.inet.ip(t, "link", "add", "br0", "type", "bridge")
	l.inet.ip(t, "link", "set", "br0", "up")
	l.cloud = l.plug("cloud", cloudWAN)
	l.a = &office{site: "hz", wan: netip.MustParseAddr("198.51.100.10"), lan: netip.MustParsePrefix("10.1.0.0/24"), lanIP: netip.MustParseAddr("10.1.0.1")}
	l.b = &office{site: "bj", wan: netip.MustParseAddr("198.51.100.20"), lan: netip.MustParsePrefix("10.2.0.0/24"), lanIP: netip.MustParseAddr("10.2.0.1")}
	for _, o := range []*office{l.a, l.b} {
		o.ns = l.plug(o.site, o.wan)
		o.port, o.table = "wan", "main"
		o.key = "e2e-" + o.site + "-" + runID() + runID()
		o.dir = t.TempDir()
		// The LAN: a veth pair inside the office, its router end holding the LAN address.
		o.ns.ip(t, "link", "add", "lan", "type", "veth", "peer", "name", "lan-host")
		o.ns.ip(t, "link", "set", "lan-host", "up")
		o.ns.ip(t, "link", "set", "lan", "up")
		o.ns.ip(t, "addr", "add", netip.PrefixFrom(o.lanIP, o.lan.Bits()).String(), "dev", "lan")
	}
	for _, f := range setup {
		f(l)
	}
	l.startCloud()
	l.pingerBin = <-pingerBin
	if l.pingerBin == "" {
		t.FailNow()
	}
	return l
}

// plug creates a namespace whose "wan" port hangs on the internet bridge with addr. The
// namespace reaches the documentation ranges on-link and nothing else: no default route.
func (l *lab) plug(name string, addr netip.Addr) netns {
	t := l.t
	n := newNetns(t, prefix+l.id+"-"+name)
	l.port(n, "wan", name, addr)
	wanRoutes(t, n, "wan", "main")
	return n
}

// port adds to namespace n a port dev with addr, hanging on the internet bridge as the
// bridge's port bridgePort.
func (l *lab) port(n netns, dev, bridgePort string, addr netip.Addr) {
	t := l.t
	t.Helper()
	run(t, "ip", "link", "add", dev, "netns", string(n), "type", "veth", "peer", "name", bridgePort, "netns", string(l.inet))
	l.inet.ip(t, "link", "set", bridgePort, "master", "br0")
	l.inet.ip(t, "link", "set", bridgePort, "up")
	n.ip(t, "link", "set", dev, "up")
	n.ip(t, "addr", "add", host32(addr), "dev", dev)
}

// wanRoutes (re)installs the on-link routes of the internet segment through port dev in a
// routing table. Removing the last address of the port flushes them, as on a router whose
// DHCP lease changes.
func wanRoutes(t *testing.T, n netns, dev, table string) {
	t.Helper()
	for _, r := range wanRanges {
		n.ip(t, "route", "replace", r, "dev", dev, "table", table)
	}
}

// move gives the office (or its line) a new WAN address the way an ISP does: the old one
// disappears.
func (l *lab) move(o *office, to netip.Addr) {
	l.t.Helper()
	o.movedAt = time.Now()
	o.ns.ip(l.t, "addr", "del", host32(o.wan), "dev", o.port)
	o.ns.ip(l.t, "addr", "add", host32(to), "dev", o.port)
	wanRoutes(l.t, o.ns, o.port, o.table)
	l.t.Logf("office %s moved %s -> %s on %s", o.site, o.wan, to, o.port)
	o.wan = to
}

// buildPinger compiles the pinger; it reports failures with t.Error and returns "".
func buildPinger(t *testing.T) string {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Errorf("go env GOMOD: %v", err)
		return ""
	}
	bin := filepath.Join(t.TempDir(), "ppter-pinger")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./pinger/cmd/ppter-pinger")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("build pinger: %v\n%s", err, out)
		return ""
	}
	return bin
}

// startCloud runs redis-server, the cloud API emulator and the function inside the cloud
// namespace. The emulator stays in this process (its listener is made inside the namespace)
// so the test reads its records and connections.
func (l *lab) startCloud() {
	t := l.t
	fnBin := fcemu.BuildFunction(t)
	l.cloud.start(t, "redis", []string{"PATH=" + os.Getenv("PATH")},
		"redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "yes", "--loglevel", "warning")
	if _, ok := poll(15*time.Second, 100*time.Millisecond, l.redisReady); !ok {
		t.Fatal("redis-server in the cloud namespace did not answer PING within 15s")
	}

	if err := l.cloud.do(func() error {
		l.ali = aliyunemu.New(t, aliyunemu.Options{SecurityToken: "sts-e2e-" + l.id})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l.ali.AddZone(zone, false)
	l.ali.AddVpnGateway(gatewayID, "47.0.0.1")
	for i, o := range []*office{l.a, l.b} {
		// The cloud still knows the offices' addresses of long ago.
		old := fmt.Sprintf("192.0.2.%d", 200+i)
		l.ali.PutRecord(zone, o.site+".vpn", "A", old, 600)
		cgw := l.ali.PutCustomerGateway(old, o.site+"-old")
		l.ali.PutConnection(aliyunemu.Connection{Name: "to-" + o.site, GatewayID: gatewayID, CustomerGatewayID: cgw,
			LocalSubnet: "172.16.0.0/20", RemoteSubnet: o.lan.String(), EffectImmediately: true,
			Ike: aliyunemu.IkeConfig{IkeVersion: "ikev2", IkeMode: "main", IkeEncAlg: "aes", IkeAuthAlg: "sha1", IkePfs: "group2",
				IkeLifetime: 86400, Psk: "psk-e2e-" + o.site, LocalId: "47.0.0.1", RemoteId: old},
			Ipsec: aliyunemu.IpsecConfig{IpsecEncAlg: "aes", IpsecAuthAlg: "sha1", IpsecPfs: "group2", IpsecLifetime: 86400}})
	}

	var sites strings.Builder
	for _, o := range []*office{l.a, l.b} {
		fmt.Fprintf(&sites, `
  %[1]s:
    key: "${PPTER_KEY_%[2]s}"
    dns: [ { zone: %[3]s, rr: %[1]s.vpn, type: A } ]
    vpn: [ { gateway: %[4]s, connection: to-%[1]s, min_interval: 1s } ]`, o.site, strings.ToUpper(o.site), zone, gatewayID)
		if len(o.lines) > 0 {
			fmt.Fprintf(&sites, "\n    lines: [%s]", strings.Join(o.lines, ", "))
		}
	}
	l.adminToken = "e2e-admin-" + runID() + runID()
	cfg := fmt.Sprintf(`redis: { url: "redis://127.0.0.1:6379/0", prefix: "{ppter-e2e}", single_node: true }
aliyun: { region: cn-hangzhou, dns_endpoint: %q, vpc_endpoint: %q, protocol: http }
ping: { interval: %s }
admin: { token: "${PPTER_ADMIN_TOKEN}" }
sites:%s
`, l.ali.Endpoint, l.ali.Endpoint, interval, sites.String())
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	id, secret, token := l.ali.Credentials()
	fnLog := newLineLog(t, "function")
	l.fnLog = fnLog
	if err := l.cloud.do(func() error {
		var err error
		l.emu, err = fcemu.Start(context.Background(), fcemu.Options{
			Binary: fnBin, Addr: netip.AddrPortFrom(cloudWAN, 9000).String(),
			Env:         []string{"PPTER_CONFIG=" + path, "PPTER_KEY_HZ=" + l.a.key, "PPTER_KEY_BJ=" + l.b.key, "PPTER_STATE_KEY=" + e2eStateKey, "PPTER_ADMIN_TOKEN=" + l.adminToken},
			Credentials: fcemu.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token},
			Stdout:      fnLog, Stderr: fnLog,
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.emu.Close() })
	l.url = l.emu.URL
}

// redisReady reports whether redis-server answers PING inside the cloud namespace.
func (l *lab) redisReady() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := l.cloud.dial(ctx, "tcp", "127.0.0.1:6379")
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "+PONG"
}

// cloudHolds reports whether the office's DNS record and the customer gateway of its VPN
// connection in the cloud emulator hold its current WAN address, and what they hold.
func (l *lab) cloudHolds(o *office) (bool, string) {
	var rec, cgwIP string
	for _, r := range l.ali.Records(zone) {
		if r.RR == o.site+".vpn" && r.Type == "A" {
			rec = r.Value
		}
	}
	cgws := map[string]string{}
	for _, c := range l.ali.CustomerGateways() {
		cgws[c.ID] = c.IP
	}
	n := 0
	for _, c := range l.ali.Connections() {
		if c.Name == "to-"+o.site {
			cgwIP = cgws[c.CustomerGatewayID]
			n++
		}
	}
	want := o.wan.String()
	return rec == want && cgwIP == want && n == 1,
		fmt.Sprintf("%s.vpn.%s A %s, connection to-%s (%d) at customer gateway %s", o.site, zone, rec, o.site, n, cgwIP)
}

// assertCloud waits (deadline 30 s: the function works during pings) until the cloud
// emulator holds each office's current address.
func (l *lab) assertCloud(offices ...*office) {
	l.t.Helper()
	for _, o := range offices {
		var got string
		if _, ok := poll(30*time.Second, 200*time.Millisecond, func() bool {
			var ok bool
			ok, got = l.cloudHolds(o)
			return ok
		}); !ok {
			l.t.Errorf("cloud does not follow %s to %s: %s", o.site, o.wan, got)
		} else {
			l.t.Logf("cloud follows %s: %s", o.site, got)
		}
	}
}

// lanPing sends one ping from A's LAN address to B's LAN address through the tunnel.
func (l *lab) lanPing() bool { return pingOnce(l.a.ns, l.a.lanIP, l.b.lanIP) }

// pingOnce sends one ping from address from in n to address to and reports whether the
// answer came within 0.5 s.
func pingOnce(n netns, from, to netip.Addr) bool {
	_, err := tryRun("ip", "netns", "exec", string(n), "ping", "-n", "-q", "-c", "1", "-W", "0.5",
		"-I", from.String(), to.String())
	return err == nil
}

// waitHeal measures from now until LAN-to-LAN traffic flows again (one probe every 0.25 s
// at most, each waiting 0.5 s for its answer).
func (l *lab) waitHeal(timeout time.Duration) (time.Duration, bool) {
	return poll(timeout, 250*time.Millisecond, l.lanPing)
}

// startPinger starts the office's pinger in --watch mode with a fresh state file, with the
// given driver arguments. The function emulator listens on plain HTTP at the cloud's WAN
// address (not loopback), so the pinger needs --insecure-http; the offices' RFC 5737
// documentation addresses are accepted as peers without a flag (see pinger/README.md).
func (l *lab) startPinger(o *office, driverArgs ...string) {
	o.gen++
	args := append([]string{l.pingerBin, "--url", l.url, "--insecure-http", "--site", o.site,
		"--state", filepath.Join(o.dir, fmt.Sprintf("state-%d.json", o.gen)), "--watch", interval.String()}, driverArgs...)
	o.pinger = o.ns.start(l.t, fmt.Sprintf("pinger %s #%d", o.site, o.gen),
		[]string{"PATH=" + os.Getenv("PATH"), "PPTER_KEY=" + o.key}, args...)
}

// stopPingers stops both offices' pingers.
func (l *lab) stopPingers() {
	for _, o := range []*office{l.a, l.b} {
		if o.pinger != nil {
			o.pinger.stop()
		}
	}
}

// failures counts the failed cycles a pinger has logged.
func failures(o *office) int { return o.pinger.log.count("cycle failed") }
