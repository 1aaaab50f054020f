package router

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// OpenWrtConfig configures the openwrt driver, which runs on the OpenWrt router itself.
//
//	openwrt:
//	  peers:
//	    bj: { wireguard_interface: wg0, public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=" }
//	    sh: { wireguard_interface: wg0, description: to-sh }
//	    gz: { ipsec_remote: gz }          # a "config remote" section of /etc/config/ipsec
type OpenWrtConfig struct {
	// UCI is the uci tool; "uci" (from PATH) when empty.
	UCI string `yaml:"uci"`
	// Ifup brings a network interface up again with its committed configuration; "ifup".
	Ifup string `yaml:"ifup"`
	// SwanctlInit is strongSwan's init script; "/etc/init.d/swanctl".
	SwanctlInit string `yaml:"swanctl_init"`
	// Swanctl is the swanctl tool; "swanctl".
	Swanctl string `yaml:"swanctl"`
	// InitiateTimeout is passed to swanctl --initiate --timeout; 30 s when zero.
	InitiateTimeout time.Duration             `yaml:"initiate_timeout"`
	Peers           map[site.Peer]OpenWrtPeer `yaml:"peers"`
	Runner          Runner                    `yaml:"-"`
}

// OpenWrtPeer maps a ppter peer to a WireGuard peer section of /etc/config/network
// (config wireguard_IFACE, found by public_key or description) or to a strongSwan remote
// of /etc/config/ipsec.
type OpenWrtPeer struct {
	WireGuardInterface string      `yaml:"wireguard_interface"`
	PublicKey          string      `yaml:"public_key"`
	Description        string      `yaml:"description"`
	IPsecRemote        string      `yaml:"ipsec_remote"`
	Family             wire.Family `yaml:"family"`
}

// OpenWrt drives OpenWrt (and derivatives such as ImmortalWrt) through uci, so that the
// change lands in the router's own configuration and survives a reboot:
//
//   - WireGuard: network.@wireguard_IFACE[N].endpoint_host of the peer whose public_key
//     (or description) matches, uci commit network, ifup IFACE;
//   - strongSwan (the swanctl package's uci configuration): the remote_addrs list of
//     ipsec.NAME, uci commit ipsec, /etc/init.d/swanctl reload, then the IKE_SA NAME is
//     terminated and initiated again towards the new address.
//
// When the step after the commit fails, the old value is committed back, so that the next
// cycle repeats the whole change.
type OpenWrt struct {
	peers[OpenWrtPeer]
	mapped
	cfg OpenWrtConfig
}

var _ Driver = (*OpenWrt)(nil)

var uciName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// maxUCISections bounds the walk over a WireGuard interface's peer sections.
const maxUCISections = 256

// NewOpenWrt returns an openwrt driver.
func NewOpenWrt(cfg OpenWrtConfig) (*OpenWrt, error) {
	for _, d := range []struct {
		v   *string
		def string
	}{{&cfg.UCI, "uci"}, {&cfg.Ifup, "ifup"}, {&cfg.SwanctlInit, "/etc/init.d/swanctl"}, {&cfg.Swanctl, "swanctl"}} {
		if *d.v == "" {
			*d.v = d.def
		}
	}
	if cfg.InitiateTimeout <= 0 {
		cfg.InitiateTimeout = 30 * time.Second
	}
	if cfg.Runner == nil {
		cfg.Runner = ExecRunner{}
	}
	m, err := peers[OpenWrtPeer](cfg.Peers).check("openwrt")
	if err != nil {
		return nil, err
	}
	return &OpenWrt{peers: cfg.Peers, mapped: m, cfg: cfg}, nil
}

func (p OpenWrtPeer) family() wire.Family { return p.Family }

func (p OpenWrtPeer) check() error {
	switch {
	case p.IPsecRemote != "" && p.WireGuardInterface == "" && p.PublicKey == "" && p.Description == "":
		if !uciName.MatchString(p.IPsecRemote) {
			return fmt.Errorf("bad ipsec_remote %q (a uci section name: letters, digits, _)", p.IPsecRemote)
		}
	case p.IPsecRemote == "" && p.WireGuardInterface != "":
		if !uciName.MatchString(p.WireGuardInterface) {
			return fmt.Errorf("bad wireguard_interface %q", p.WireGuardInterface)
		}
		if (p.PublicKey == "") == (p.Description == "") {
			return errors.New("set exactly one of public_key, description")
		}
		if p.PublicKey != "" && !isWireGuardKey(p.PublicKey) {
			return errors.New("public_key must be a base64 WireGuard key")
		}
		if strings.ContainsAny(p.Description, "\n\r") {
			return errors.New("bad description")
		}
	default:
		return errors.New("set either ipsec_remote or wireguard_interface with public_key or description")
	}
	return nil
}

// Apply changes the mapped uci option unless it already holds the address.
func (o *OpenWrt) Apply(ctx context.Context, c Change) error {
	p := o.peers[c.Ref()]
	if p.IPsecRemote != "" {
		return o.applyIPsec(ctx, p.IPsecRemote, c)
	}
	return o.applyWireGuard(ctx, p, c)
}

func (o *OpenWrt) uci(ctx context.Context, args ...string) (string, error) {
	out, err := o.cfg.Runner.Run(ctx, o.cfg.UCI, args...)
	return strings.TrimSpace(string(out)), err
}

// get returns an option's value; a missing option is "" (uci -q get exits 1 without output).
func (o *OpenWrt) get(ctx context.Context, path string) string {
	v, err := o.uci(ctx, "-q", "get", path)
	if err != nil {
		return ""
	}
	return v
}

func (o *OpenWrt) applyWireGuard(ctx context.Context, p OpenWrtPeer, c Change) error {
	iface := p.WireGuardInterface
	typ := "wireguard_" + iface
	match, matches := "", 0
	for i := 0; i < maxUCISections; i++ {
		sec := "network.@" + typ + "[" + strconv.Itoa(i) + "]"
		got, err := o.uci(ctx, "-q", "get", sec)
		if err != nil || got != typ {
			if i == 0 {
				return fmt.Errorf("openwrt: %w: no %s sections in /etc/config/network (%s)", ErrNotFound, typ, why(err, got))
			}
			break
		}
		if p.PublicKey != "" && o.get(ctx, sec+".public_key") == p.PublicKey ||
			p.Description != "" && o.get(ctx, sec+".description") == p.Description {
			match = sec
			matches++
		}
	}
	who := "public_key " + p.PublicKey
	if p.Description != "" {
		who = "description " + strconv.Quote(p.Description)
	}
	switch matches {
	case 0:
		return fmt.Errorf("openwrt: %w: %s peer with %s", ErrNotFound, typ, who)
	case 1:
	default:
		return fmt.Errorf("openwrt: %w: %d %s peers with %s", ErrApply, matches, typ, who)
	}
	opt := match + ".endpoint_host"
	old := o.get(ctx, opt)
	if old == c.New.String() {
		return nil
	}
	if err := o.commit(ctx, "network", []string{"set", opt + "=" + c.New.String()}); err != nil {
		return err
	}
	if _, err := o.cfg.Runner.Run(ctx, o.cfg.Ifup, iface); err != nil {
		undo := []string{"set", opt + "=" + old}
		if old == "" {
			undo = []string{"delete", opt}
		}
		return o.rollback(ctx, "network", fmt.Errorf("openwrt: ifup %s: %w: %v", iface, ErrApply, err), undo)
	}
	return nil
}

func (o *OpenWrt) applyIPsec(ctx context.Context, name string, c Change) error {
	sec := "ipsec." + name
	if typ, err := o.uci(ctx, "-q", "get", sec); err != nil || typ != "remote" {
		return fmt.Errorf("openwrt: %w: remote %s in /etc/config/ipsec (%s)", ErrNotFound, name, why(err, typ))
	}
	opt := sec + ".remote_addrs"
	old := strings.Fields(o.get(ctx, opt))
	if len(old) == 1 && old[0] == c.New.String() {
		return nil
	}
	// remote_addrs is a list: swanctl's init script reads it with config_list_foreach,
	// which ignores a plain option, so it is replaced with delete + add_list, not set.
	replace := func(addrs []string) [][]string {
		var cmds [][]string
		if len(old) > 0 {
			cmds = append(cmds, []string{"delete", opt})
		}
		for _, a := range addrs {
			cmds = append(cmds, []string{"add_list", opt + "=" + a})
		}
		return cmds
	}
	if err := o.commit(ctx, "ipsec", replace([]string{c.New.String()})...); err != nil {
		return err
	}
	undo := func(err error) error {
		cmds := [][]string{{"delete", opt}}
		for _, a := range old {
			cmds = append(cmds, []string{"add_list", opt + "=" + a})
		}
		return o.rollback(ctx, "ipsec", err, cmds...)
	}
	if _, err := o.cfg.Runner.Run(ctx, o.cfg.SwanctlInit, "reload"); err != nil {
		return undo(fmt.Errorf("openwrt: %s reload: %w: %v", o.cfg.SwanctlInit, ErrApply, err))
	}
	// The old IKE_SA points at the address the peer has left: drop it at once (nothing to
	// terminate is fine), then initiate towards the new one.
	_, _ = o.cfg.Runner.Run(ctx, o.cfg.Swanctl, "--terminate", "--ike", name, "--force")
	timeout := strconv.Itoa(int(o.cfg.InitiateTimeout / time.Second))
	if _, err := o.cfg.Runner.Run(ctx, o.cfg.Swanctl, "--initiate", "--ike", name, "--timeout", timeout); err != nil {
		return undo(fmt.Errorf("openwrt: swanctl --initiate %s: %w: %v", name, ErrApply, err))
	}
	return nil
}

// why says why a uci lookup found nothing: the tool's error (a missing uci shows here) or
// the section type it found instead.
func why(err error, typ string) string {
	if err != nil {
		return err.Error()
	}
	return "a section of type " + strconv.Quote(typ)
}

// commit runs the uci changes then uci commit pkg; on a failure the uncommitted changes
// are reverted.
func (o *OpenWrt) commit(ctx context.Context, pkg string, cmds ...[]string) error {
	for _, cmd := range cmds {
		if _, err := o.uci(ctx, cmd...); err != nil {
			_, _ = o.uci(ctx, "revert", pkg)
			return fmt.Errorf("openwrt: uci %s: %w: %v", cmd[0], ErrApply, err)
		}
	}
	if _, err := o.uci(ctx, "commit", pkg); err != nil {
		_, _ = o.uci(ctx, "revert", pkg)
		return fmt.Errorf("openwrt: uci commit %s: %w: %v", pkg, ErrApply, err)
	}
	return nil
}

// rollback commits the old value back after a failed apply step and returns err.
func (o *OpenWrt) rollback(ctx context.Context, pkg string, err error, undo ...[]string) error {
	if rerr := o.commit(ctx, pkg, undo...); rerr != nil {
		return fmt.Errorf("%w (and putting the old value back: %v)", err, rerr)
	}
	return err
}
