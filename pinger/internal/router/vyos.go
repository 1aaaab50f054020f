package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// VyOSConfig configures the vyos driver.
//
//	vyos:
//	  url: https://192.0.2.1
//	  api_key_file: /etc/ppter/vyos.key    # or env PPTER_ROUTER_API_KEY
//	  save: true                           # also save to the boot configuration
//	  peers:
//	    bj: { ipsec_peer: to-bj }
//	    sh: { wireguard_interface: wg0, wireguard_peer: sh }
type VyOSConfig struct {
	URL     string        `yaml:"url"`
	KeyFile string        `yaml:"api_key_file"`
	Key     string        `yaml:"-"`
	TLS     TLSConfig     `yaml:",inline"`
	Timeout time.Duration `yaml:"timeout"`
	// Save also writes the committed configuration to the boot configuration
	// (/config-file op save), so the address survives a reboot.
	Save       bool                   `yaml:"save"`
	Peers      map[site.Peer]VyOSPeer `yaml:"peers"`
	HTTPClient *http.Client           `yaml:"-"`
}

// VyOSPeer maps a ppter peer to a site-to-site IPsec peer (its remote-address) or a
// WireGuard peer of an interface (its address).
type VyOSPeer struct {
	IPsecPeer          string      `yaml:"ipsec_peer"`
	WireGuardInterface string      `yaml:"wireguard_interface"`
	WireGuardPeer      string      `yaml:"wireguard_peer"`
	Family             wire.Family `yaml:"family"`
}

func (p VyOSPeer) family() wire.Family { return p.Family }

func (p VyOSPeer) check() error {
	switch {
	case p.IPsecPeer != "" && p.WireGuardInterface == "" && p.WireGuardPeer == "":
		return checkName("ipsec_peer", p.IPsecPeer)
	case p.IPsecPeer == "" && p.WireGuardInterface != "" && p.WireGuardPeer != "":
		if err := checkName("wireguard_interface", p.WireGuardInterface); err != nil {
			return err
		}
		return checkName("wireguard_peer", p.WireGuardPeer)
	}
	return errors.New("set either ipsec_peer or both wireguard_interface and wireguard_peer")
}

// path returns the configuration path of the peer's node and the name of its address leaf.
func (p VyOSPeer) path() ([]string, string) {
	if p.IPsecPeer != "" {
		return []string{"vpn", "ipsec", "site-to-site", "peer", p.IPsecPeer}, "remote-address"
	}
	return []string{"interfaces", "wireguard", p.WireGuardInterface, "peer", p.WireGuardPeer}, "address"
}

// VyOS drives VyOS 1.4 and 1.5 through their HTTP API (service https api, the key as the
// form field "key"): it reads the peer with /retrieve showConfig and, when the address
// differs, replaces it with one /configure call (delete then set, committed together),
// then optionally saves with /config-file.
type VyOS struct {
	peers[VyOSPeer]
	mapped
	cfg VyOSConfig
	api *apiClient
}

var _ Driver = (*VyOS)(nil)

// NewVyOS returns a vyos driver.
func NewVyOS(cfg VyOSConfig) (*VyOS, error) {
	if cfg.Key == "" {
		return nil, errors.New("vyos: no API key: set api_key_file or PPTER_ROUTER_API_KEY")
	}
	m, err := peers[VyOSPeer](cfg.Peers).check("vyos")
	if err != nil {
		return nil, err
	}
	// The key travels in the form body, not a header.
	api, err := newAPIClient(cfg.URL, cfg.TLS, cfg.Timeout, cfg.HTTPClient, func(*http.Request) {})
	if err != nil {
		return nil, fmt.Errorf("vyos: %w", err)
	}
	return &VyOS{peers: cfg.Peers, mapped: m, cfg: cfg, api: api}, nil
}

// vyosOp is one operation of the VyOS API.
type vyosOp struct {
	Op   string   `json:"op"`
	Path []string `json:"path,omitempty"`
}

// vyosEmpty is in VyOS's answer for a configuration path that does not exist.
const vyosEmpty = "specified path is empty"

// Apply replaces the peer's address unless it is already the only one.
func (v *VyOS) Apply(ctx context.Context, c Change) error {
	node, leaf := v.peers[c.Ref()].path()
	where := strings.Join(node, " ")
	var cfg map[string]any
	if err := v.call(ctx, "/retrieve", vyosOp{Op: "showConfig", Path: node}, &cfg); err != nil {
		if strings.Contains(err.Error(), vyosEmpty) {
			return fmt.Errorf("vyos: %w: %s", ErrNotFound, where)
		}
		return fmt.Errorf("vyos: show %s: %w", where, err)
	}
	if cfg == nil {
		return fmt.Errorf("vyos: %w: %s", ErrNotFound, where)
	}
	switch cur := cfg[leaf].(type) {
	case string:
		if cur == c.New.String() {
			return nil
		}
	case []any:
		if len(cur) == 1 && cur[0] == c.New.String() {
			return nil
		}
	}
	leafPath := append(append([]string{}, node...), leaf)
	ops := []vyosOp{{Op: "set", Path: append(append([]string{}, leafPath...), c.New.String())}}
	if _, ok := cfg[leaf]; ok {
		ops = append([]vyosOp{{Op: "delete", Path: leafPath}}, ops...)
	}
	if err := v.call(ctx, "/configure", ops, nil); err != nil {
		return fmt.Errorf("vyos: set %s %s: %w", where, leaf, err)
	}
	if v.cfg.Save {
		if err := v.call(ctx, "/config-file", vyosOp{Op: "save"}, nil); err != nil {
			return fmt.Errorf("vyos: save: %w", err)
		}
	}
	return nil
}

// call posts data (JSON) with the key as a form and decodes the answer's data into out.
// VyOS answers {"success": bool, "data": …, "error": "…"}.
func (v *VyOS) call(ctx context.Context, endpoint string, data any, out any) error {
	js, _ := json.Marshal(data)
	form := url.Values{"data": {string(js)}, "key": {v.cfg.Key}}
	status, raw, err := v.api.do(ctx, http.MethodPost, endpoint, "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil {
		return err
	}
	var res struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *string         `json:"error"`
	}
	if jerr := json.Unmarshal(raw, &res); jerr != nil {
		return fmt.Errorf("%w: HTTP %d: bad JSON answer", ErrApply, status)
	}
	if status != http.StatusOK || !res.Success {
		msg := http.StatusText(status)
		if res.Error != nil && *res.Error != "" {
			msg = strings.TrimSpace(*res.Error)
		}
		return fmt.Errorf("%w: HTTP %d: %s", ErrApply, status, msg)
	}
	if out != nil && len(res.Data) > 0 && string(res.Data) != "null" {
		if err := json.Unmarshal(res.Data, out); err != nil {
			return fmt.Errorf("%w: unexpected data: %v", ErrApply, err)
		}
	}
	return nil
}
