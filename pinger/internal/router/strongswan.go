package router

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/pinger/internal/atomicfile"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// StrongSwanConfig configures the strongswan driver.
//
//	strongswan:
//	  conf_dir: /etc/swanctl/conf.d
//	  peers:
//	    bj: { connection: to-bj, children: [ lan ] }
type StrongSwanConfig struct {
	// Swanctl is the swanctl tool; "swanctl" (from PATH) when empty.
	Swanctl string `yaml:"swanctl"`
	// ConfDir receives one generated file per connection, ppter-CONNECTION.conf; it must
	// be included by swanctl.conf after the connection's own definition (the stock
	// swanctl.conf ends with "include conf.d/*.conf"). Default /etc/swanctl/conf.d.
	ConfDir string `yaml:"conf_dir"`
	// InitiateTimeout is passed to swanctl --initiate --timeout; 30 s when zero. The
	// initiate call itself is killed 10 s after it.
	InitiateTimeout time.Duration `yaml:"initiate_timeout"`
	// Timeout bounds the other swanctl calls (--load-conns, --terminate);
	// CommandTimeout (30 s) when zero.
	Timeout time.Duration                `yaml:"timeout"`
	Peers   map[site.Peer]StrongSwanPeer `yaml:"peers"`
	Runner  Runner                       `yaml:"-"`
	// WriteFile replaces the atomic file writer (tests).
	WriteFile func(path string, data []byte) error `yaml:"-"`
}

// StrongSwanPeer maps a ppter peer to a swanctl connection.
type StrongSwanPeer struct {
	Connection string `yaml:"connection"`
	// Children are the CHILD_SAs to initiate; the connection's IKE_SA alone when empty.
	Children []string    `yaml:"children"`
	Family   wire.Family `yaml:"family"`
}

func (p StrongSwanPeer) family() wire.Family { return p.Family }

func (p StrongSwanPeer) check() error {
	if !swanName.MatchString(p.Connection) {
		return fmt.Errorf("bad connection name %q", p.Connection)
	}
	for _, ch := range p.Children {
		if !swanName.MatchString(ch) {
			return fmt.Errorf("bad child name %q", ch)
		}
	}
	return nil
}

// StrongSwan points a swanctl connection's remote_addrs at the peer's new address and
// makes charon use it now: it writes a small override file (connections { NAME {
// remote_addrs = IP } }) that swanctl merges into the connection, runs
// `swanctl --load-conns`, terminates the old IKE_SA and initiates the tunnel again. For
// Linux hosts and routers running strongSwan 5.x with swanctl (vici).
type StrongSwan struct {
	peers[StrongSwanPeer]
	mapped
	cfg StrongSwanConfig
}

var _ Driver = (*StrongSwan)(nil)

// initiateSlack is how much longer than its own --timeout an initiate call may run.
const initiateSlack = 10 * time.Second

var swanName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// NewStrongSwan returns a strongswan driver.
func NewStrongSwan(cfg StrongSwanConfig) (*StrongSwan, error) {
	if cfg.Swanctl == "" {
		cfg.Swanctl = "swanctl"
	}
	if cfg.ConfDir == "" {
		cfg.ConfDir = "/etc/swanctl/conf.d"
	}
	if cfg.InitiateTimeout <= 0 {
		cfg.InitiateTimeout = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = CommandTimeout
	}
	if cfg.Runner == nil {
		cfg.Runner = ExecRunner{}
	}
	if cfg.WriteFile == nil {
		cfg.WriteFile = func(path string, data []byte) error { return atomicfile.WriteFile(path, data, 0o644) }
	}
	m, err := peers[StrongSwanPeer](cfg.Peers).check("strongswan")
	if err != nil {
		return nil, err
	}
	return &StrongSwan{peers: cfg.Peers, mapped: m, cfg: cfg}, nil
}

// ConfPath returns the override file of a connection.
func (s *StrongSwan) ConfPath(conn string) string {
	return filepath.Join(s.cfg.ConfDir, "ppter-"+conn+".conf")
}

// Apply writes the override, reloads the connections and re-initiates the tunnel, unless
// the connection already points at the address with its tunnel up (see upToDate): after
// the state file was lost, a cycle that applies everything again leaves working tunnels
// alone.
func (s *StrongSwan) Apply(ctx context.Context, c Change) error {
	p := s.peers[c.Ref()]
	conf := StrongSwanOverride(p.Connection, c)
	if s.upToDate(ctx, p, conf, c.New) {
		return nil
	}
	if err := s.cfg.WriteFile(s.ConfPath(p.Connection), conf); err != nil {
		return fmt.Errorf("strongswan: %w: %v", ErrApply, err)
	}
	if _, err := runWithin(ctx, s.cfg.Runner, s.cfg.Timeout, s.cfg.Swanctl, "--load-conns"); err != nil {
		return fmt.Errorf("strongswan: %w: %v", ErrApply, err)
	}
	// Terminating fails when no IKE_SA is up; that is fine, there is nothing to tear down.
	// --force without --timeout destroys the old IKE_SA at once: with a timeout, charon
	// waits that long for the DELETE answer of a peer that has moved and cannot answer
	// (vici's terminate: "if timeout is given, waits for a response until it is reached").
	_, _ = runWithin(ctx, s.cfg.Runner, s.cfg.Timeout, s.cfg.Swanctl, "--terminate", "--ike", p.Connection, "--force")
	timeout := strconv.Itoa(int(s.cfg.InitiateTimeout / time.Second))
	if len(p.Children) == 0 {
		if _, err := runWithin(ctx, s.cfg.Runner, s.cfg.InitiateTimeout+initiateSlack, s.cfg.Swanctl, "--initiate", "--ike", p.Connection, "--timeout", timeout); err != nil {
			return fmt.Errorf("strongswan: %w: %v", ErrApply, err)
		}
		return nil
	}
	for _, ch := range p.Children {
		if _, err := runWithin(ctx, s.cfg.Runner, s.cfg.InitiateTimeout+initiateSlack, s.cfg.Swanctl, "--initiate", "--ike", p.Connection, "--child", ch, "--timeout", timeout); err != nil {
			return fmt.Errorf("strongswan: %w: %v", ErrApply, err)
		}
	}
	return nil
}

// upToDate reports whether p's connection already points at ip: its override file holds
// conf and charon has an established IKE_SA of that connection to ip with every
// configured CHILD_SA installed (`swanctl --list-sas --ike CONNECTION`). Any doubt — no
// file, another content, a failed call, output it cannot read — means no, and the change
// is applied.
func (s *StrongSwan) upToDate(ctx context.Context, p StrongSwanPeer, conf []byte, ip netip.Addr) bool {
	have, err := os.ReadFile(s.ConfPath(p.Connection))
	if err != nil || !bytes.Equal(have, conf) {
		return false
	}
	out, err := runWithin(ctx, s.cfg.Runner, s.cfg.Timeout, s.cfg.Swanctl, "--list-sas", "--ike", p.Connection)
	return err == nil && saUpTo(out, p.Connection, ip, p.Children)
}

// saUpTo reads `swanctl --list-sas` output:
//
//	to-bj: #2, ESTABLISHED, IKEv2, 5c3e5e9b0fa2b1c6_i* 2a0a0f1d5d0e9d0b_r
//	  local  '198.51.100.10' @ 198.51.100.10[4500]
//	  remote '198.51.100.20' @ 198.51.100.20[4500]
//	  lan: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_CBC-128/HMAC_SHA2_256_128
//
// and reports whether one IKE_SA of conn is ESTABLISHED to ip with all children INSTALLED.
func saUpTo(out []byte, conn string, ip netip.Addr, children []string) bool {
	type sa struct {
		established, remote bool
		installed           map[string]bool
	}
	var sas []*sa
	var cur *sa
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			cur = nil
			name, rest, ok := strings.Cut(line, ": #")
			if ok && name == conn {
				fields := strings.Split(rest, ", ")
				cur = &sa{established: len(fields) > 1 && fields[1] == "ESTABLISHED", installed: map[string]bool{}}
				sas = append(sas, cur)
			}
			continue
		}
		if cur == nil {
			continue
		}
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "remote ") {
			if _, addr, ok := strings.Cut(t, " @ "); ok {
				if i := strings.LastIndexByte(addr, '['); i >= 0 {
					addr = addr[:i]
				}
				a, err := netip.ParseAddr(addr)
				cur.remote = err == nil && a.Unmap() == ip
			}
			continue
		}
		if name, rest, ok := strings.Cut(t, ": #"); ok && strings.Contains(rest, ", INSTALLED, ") {
			cur.installed[name] = true
		}
	}
	for _, x := range sas {
		ok := x.established && x.remote
		for _, ch := range children {
			ok = ok && x.installed[ch]
		}
		if ok {
			return true
		}
	}
	return false
}

// StrongSwanOverride returns the generated swanctl.conf fragment for c.
func StrongSwanOverride(conn string, c Change) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by ppter-pinger: the current address of site %s (%s).\n", c.Peer, c.Family.String())
	b.WriteString("# Do not edit: it is replaced whenever the address changes.\n")
	fmt.Fprintf(&b, "connections {\n\t%s {\n\t\tremote_addrs = %s\n\t}\n}\n", conn, c.New)
	return b.Bytes()
}
