package router

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// WireGuardConfig configures the wireguard driver.
//
//	wireguard:
//	  peers:
//	    bj: { interface: wg0, public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", port: 51820 }
type WireGuardConfig struct {
	// Wg is the wg tool; "wg" (from PATH) when empty.
	Wg string `yaml:"wg"`
	// Timeout bounds each wg call; CommandTimeout (30 s) when zero.
	Timeout time.Duration               `yaml:"timeout"`
	Peers   map[site.Peer]WireGuardPeer `yaml:"peers"`
	Runner  Runner                      `yaml:"-"`
}

// WireGuardPeer maps a ppter peer to a WireGuard peer of a local interface.
type WireGuardPeer struct {
	Interface string      `yaml:"interface"`
	PublicKey string      `yaml:"public_key"`
	Port      uint16      `yaml:"port"`
	Family    wire.Family `yaml:"family"`
}

func (p WireGuardPeer) family() wire.Family { return p.Family }

func (p WireGuardPeer) check() error {
	switch {
	case p.Interface == "" || strings.ContainsAny(p.Interface, " /\t\n") || strings.HasPrefix(p.Interface, "-"):
		return fmt.Errorf("bad interface %q", p.Interface)
	case !isWireGuardKey(p.PublicKey):
		return errors.New("public_key must be a base64 WireGuard key")
	case p.Port == 0:
		return errors.New("port is required")
	}
	return nil
}

// isWireGuardKey reports whether k is a WireGuard public key in base64.
func isWireGuardKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 32
}

// WireGuard points a WireGuard peer's endpoint at the peer's new address with
// `wg set IFACE peer KEY endpoint IP:PORT`, for Linux (kernel or wireguard-go), OpenWrt
// and any host with wireguard-tools. The change lasts until the interface is recreated;
// keep the endpoint in the interface config too if it must survive a reboot.
type WireGuard struct {
	peers[WireGuardPeer]
	mapped
	cfg WireGuardConfig
}

var _ Driver = (*WireGuard)(nil)

// NewWireGuard returns a wireguard driver.
func NewWireGuard(cfg WireGuardConfig) (*WireGuard, error) {
	if cfg.Wg == "" {
		cfg.Wg = "wg"
	}
	if cfg.Runner == nil {
		cfg.Runner = ExecRunner{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = CommandTimeout
	}
	m, err := peers[WireGuardPeer](cfg.Peers).check("wireguard")
	if err != nil {
		return nil, err
	}
	return &WireGuard{peers: cfg.Peers, mapped: m, cfg: cfg}, nil
}

// Apply sets the endpoint unless the interface already uses it.
func (w *WireGuard) Apply(ctx context.Context, c Change) error {
	p := w.peers[c.Ref()]
	want := netip.AddrPortFrom(c.New, p.Port).String()
	out, err := runWithin(ctx, w.cfg.Runner, w.cfg.Timeout, w.cfg.Wg, "show", p.Interface, "endpoints")
	if err != nil {
		return fmt.Errorf("wireguard: %w: %v", ErrApply, err)
	}
	cur, found := "", false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, ep, ok := strings.Cut(sc.Text(), "\t")
		if ok && key == p.PublicKey {
			cur, found = strings.TrimSpace(ep), true
		}
	}
	if !found {
		return fmt.Errorf("wireguard: %w: peer %s on %s", ErrNotFound, p.PublicKey, p.Interface)
	}
	if cur == want {
		return nil
	}
	if _, err := runWithin(ctx, w.cfg.Runner, w.cfg.Timeout, w.cfg.Wg, "set", p.Interface, "peer", p.PublicKey, "endpoint", want); err != nil {
		return fmt.Errorf("wireguard: %w: %v", ErrApply, err)
	}
	return nil
}
