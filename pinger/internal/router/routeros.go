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

// RouterOSConfig configures the routeros driver.
//
//	routeros:
//	  url: https://192.168.88.1
//	  username: ppter
//	  password_file: /etc/ppter/routeros.pass   # or env PPTER_ROUTER_PASSWORD
//	  peers:
//	    bj: { ipsec_peer: to-bj }
//	    sh: { wireguard_peer: sh }
type RouterOSConfig struct {
	URL          string                     `yaml:"url"`
	Username     string                     `yaml:"username"`
	PasswordFile string                     `yaml:"password_file"`
	Password     string                     `yaml:"-"`
	TLS          TLSConfig                  `yaml:",inline"`
	Timeout      time.Duration              `yaml:"timeout"`
	Peers        map[site.Peer]RouterOSPeer `yaml:"peers"`
	HTTPClient   *http.Client               `yaml:"-"`
}

// RouterOSPeer maps a ppter peer to one RouterOS object, found by its name.
type RouterOSPeer struct {
	// IPsecPeer is the name of an /ip/ipsec/peer whose address follows the peer.
	IPsecPeer string `yaml:"ipsec_peer"`
	// WireGuardPeer is the name of an /interface/wireguard/peers entry whose
	// endpoint-address follows the peer.
	WireGuardPeer string      `yaml:"wireguard_peer"`
	Family        wire.Family `yaml:"family"`
}

func (p RouterOSPeer) family() wire.Family { return p.Family }

func (p RouterOSPeer) check() error {
	if (p.IPsecPeer == "") == (p.WireGuardPeer == "") {
		return errors.New("set exactly one of ipsec_peer, wireguard_peer")
	}
	return nil
}

// RouterOS drives MikroTik RouterOS v7 through its REST API (/rest, Basic auth): it finds
// an IPsec peer (or a WireGuard peer) by name and PATCHes its address. For any MikroTik
// router running RouterOS 7.1 or later with the www-ssl (or www) service enabled.
type RouterOS struct {
	peers[RouterOSPeer]
	mapped
	api *apiClient
}

var _ Driver = (*RouterOS)(nil)

// NewRouterOS returns a routeros driver.
func NewRouterOS(cfg RouterOSConfig) (*RouterOS, error) {
	if cfg.Username == "" {
		return nil, errors.New("routeros: username is required")
	}
	m, err := peers[RouterOSPeer](cfg.Peers).check("routeros")
	if err != nil {
		return nil, err
	}
	api, err := newAPIClient(strings.TrimSuffix(cfg.URL, "/")+"/rest", cfg.TLS, cfg.Timeout, cfg.HTTPClient, func(r *http.Request) {
		r.SetBasicAuth(cfg.Username, cfg.Password)
	})
	if err != nil {
		return nil, fmt.Errorf("routeros: %w", err)
	}
	return &RouterOS{peers: cfg.Peers, mapped: m, api: api}, nil
}

// Apply finds the mapped object and sets its address unless it already has it.
func (r *RouterOS) Apply(ctx context.Context, c Change) error {
	p := r.peers[c.Ref()]
	menu, name, field := "/ip/ipsec/peer", p.IPsecPeer, "address"
	if p.WireGuardPeer != "" {
		menu, name, field = "/interface/wireguard/peers", p.WireGuardPeer, "endpoint-address"
	}
	var items []map[string]any
	if err := r.do(ctx, http.MethodGet, menu+"?name="+url.QueryEscape(name), nil, &items); err != nil {
		return fmt.Errorf("routeros: find %s %q: %w", menu, name, err)
	}
	switch len(items) {
	case 0:
		return fmt.Errorf("routeros: %w: %s %q", ErrNotFound, menu, name)
	case 1:
	default:
		return fmt.Errorf("routeros: %w: %d entries in %s named %q", ErrApply, len(items), menu, name)
	}
	id, _ := items[0][".id"].(string)
	if id == "" || strings.ContainsAny(id, "/?#") {
		return fmt.Errorf("routeros: %w: %s %q has no usable .id", ErrApply, menu, name)
	}
	cur, _ := items[0][field].(string)
	if sameAddr(cur, c.New.String()) {
		return nil
	}
	body, _ := json.Marshal(map[string]string{field: c.New.String()})
	if err := r.do(ctx, http.MethodPatch, menu+"/"+id, body, nil); err != nil {
		return fmt.Errorf("routeros: set %s %q %s: %w", menu, name, field, err)
	}
	return nil
}

// sameAddr compares RouterOS's "203.0.113.7/32" with "203.0.113.7".
func sameAddr(routerValue, ip string) bool {
	v := strings.TrimSuffix(strings.TrimSuffix(routerValue, "/32"), "/128")
	return v == ip
}

// routerOSError is RouterOS's error body: {"error":404,"message":"Not Found","detail":"…"}.
type routerOSError struct {
	Error   int    `json:"error"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

func (r *RouterOS) do(ctx context.Context, method, path string, body []byte, out any) error {
	status, raw, err := r.api.do(ctx, method, path, "", body)
	if err != nil {
		return err
	}
	if status >= 300 {
		var re routerOSError
		msg := http.StatusText(status)
		if json.Unmarshal(raw, &re) == nil && re.Message != "" {
			msg = re.Message
			if re.Detail != "" {
				msg += ": " + re.Detail
			}
		}
		return fmt.Errorf("%w: HTTP %d: %s", ErrApply, status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%w: bad JSON answer: %v", ErrApply, err)
		}
	}
	return nil
}
