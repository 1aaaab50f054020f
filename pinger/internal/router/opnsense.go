package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// OPNsenseConfig configures the opnsense driver.
//
//	opnsense:
//	  url: https://192.168.1.1
//	  api_key_file: /etc/ppter/opnsense-apikey.txt   # the key file OPNsense offers for download
//	                                                  # (key=… and secret=… lines); or env
//	                                                  # PPTER_ROUTER_API_KEY + PPTER_ROUTER_API_SECRET
//	  ca_file: /etc/ppter/opnsense.pem
//	  peers:
//	    bj: { connection: 3d9b0f2e-5d0c-4a8e-9f7c-1b2a3c4d5e6f }
type OPNsenseConfig struct {
	URL        string                     `yaml:"url"`
	KeyFile    string                     `yaml:"api_key_file"`
	Key        string                     `yaml:"-"`
	Secret     string                     `yaml:"-"`
	TLS        TLSConfig                  `yaml:",inline"`
	Timeout    time.Duration              `yaml:"timeout"`
	Peers      map[site.Peer]OPNsensePeer `yaml:"peers"`
	HTTPClient *http.Client               `yaml:"-"`
}

// OPNsensePeer maps a ppter peer to an IPsec connection (VPN → IPsec → Connections, the
// swanctl-based configuration of OPNsense 23.1 and later), by its UUID.
type OPNsensePeer struct {
	Connection string      `yaml:"connection"`
	Family     wire.Family `yaml:"family"`
}

func (p OPNsensePeer) family() wire.Family { return p.Family }

func (p OPNsensePeer) check() error {
	if !uuidRe.MatchString(p.Connection) {
		return fmt.Errorf("connection must be the connection's UUID, got %q", p.Connection)
	}
	return nil
}

// OPNsense drives OPNsense through its official API (key and secret as Basic auth): it
// reads the connection with get_connection, sets its remote_addrs with set_connection and
// applies the saved configuration with service/reconfigure. When the apply step fails it
// puts the old address back, so that the next cycle does both steps again instead of
// finding the address saved but never applied.
type OPNsense struct {
	peers[OPNsensePeer]
	mapped
	cfg OPNsenseConfig
	api *apiClient
}

var _ Driver = (*OPNsense)(nil)

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// NewOPNsense returns an opnsense driver.
func NewOPNsense(cfg OPNsenseConfig) (*OPNsense, error) {
	if cfg.Key == "" || cfg.Secret == "" {
		return nil, errors.New("opnsense: no API key and secret: set api_key_file or PPTER_ROUTER_API_KEY and PPTER_ROUTER_API_SECRET")
	}
	m, err := peers[OPNsensePeer](cfg.Peers).check("opnsense")
	if err != nil {
		return nil, err
	}
	api, err := newAPIClient(cfg.URL, cfg.TLS, cfg.Timeout, cfg.HTTPClient, func(r *http.Request) { r.SetBasicAuth(cfg.Key, cfg.Secret) })
	if err != nil {
		return nil, fmt.Errorf("opnsense: %w", err)
	}
	return &OPNsense{peers: cfg.Peers, mapped: m, cfg: cfg, api: api}, nil
}

// ParseOPNsenseKeyFile reads the key file OPNsense offers when an API key is created:
// lines key=… and secret=….
func ParseOPNsenseKeyFile(b []byte) (key, secret string, err error) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		switch {
		case !ok:
		case k == "key":
			key = v
		case k == "secret":
			secret = v
		}
	}
	if key == "" || secret == "" {
		return "", "", errors.New("want a key=… and a secret=… line")
	}
	return key, secret, nil
}

// Apply sets the connection's remote_addrs unless it already holds the address, then
// applies the configuration.
func (o *OPNsense) Apply(ctx context.Context, c Change) error {
	uuid := o.peers[c.Ref()].Connection
	var got struct {
		Connection *struct {
			RemoteAddrs string `json:"remote_addrs"`
		} `json:"connection"`
	}
	if err := o.call(ctx, http.MethodGet, "/api/ipsec/connections/get_connection/"+uuid, nil, &got); err != nil {
		return fmt.Errorf("opnsense: get connection %s: %w", uuid, err)
	}
	if got.Connection == nil {
		return fmt.Errorf("opnsense: %w: connection %s", ErrNotFound, uuid)
	}
	old := got.Connection.RemoteAddrs
	if old == c.New.String() {
		return nil
	}
	if err := o.set(ctx, uuid, c.New.String()); err != nil {
		return err
	}
	if err := o.reconfigure(ctx); err != nil {
		if rerr := o.set(ctx, uuid, old); rerr != nil {
			return fmt.Errorf("%w (and putting the old address back: %v)", err, rerr)
		}
		return err
	}
	return nil
}

func (o *OPNsense) set(ctx context.Context, uuid, addrs string) error {
	body, _ := json.Marshal(map[string]map[string]string{"connection": {"remote_addrs": addrs}})
	var res struct {
		Result      string            `json:"result"`
		Validations map[string]string `json:"validations"`
	}
	if err := o.call(ctx, http.MethodPost, "/api/ipsec/connections/set_connection/"+uuid, body, &res); err != nil {
		return fmt.Errorf("opnsense: set connection %s: %w", uuid, err)
	}
	if res.Result != "saved" {
		msg := res.Result
		for field, v := range res.Validations {
			msg += "; " + field + ": " + v
		}
		return fmt.Errorf("opnsense: set connection %s: %w: %s", uuid, ErrApply, msg)
	}
	return nil
}

func (o *OPNsense) reconfigure(ctx context.Context) error {
	var res struct {
		Status string `json:"status"`
	}
	if err := o.call(ctx, http.MethodPost, "/api/ipsec/service/reconfigure", []byte("{}"), &res); err != nil {
		return fmt.Errorf("opnsense: reconfigure: %w", err)
	}
	if strings.TrimSpace(strings.ToLower(res.Status)) != "ok" {
		return fmt.Errorf("opnsense: reconfigure: %w: status %q", ErrApply, res.Status)
	}
	return nil
}

// call sends a request and decodes a 200 answer into out. OPNsense answers errors with
// {"status":401,"message":"Authentication Failed"} and the like.
func (o *OPNsense) call(ctx context.Context, method, path string, body []byte, out any) error {
	status, raw, err := o.api.do(ctx, method, path, "", body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		msg := http.StatusText(status)
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return fmt.Errorf("%w: HTTP %d: %s", ErrApply, status, msg)
	}
	// An unknown UUID is answered with an empty list, not an object.
	if strings.TrimSpace(string(raw)) == "[]" {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: bad JSON answer: %v", ErrApply, err)
	}
	return nil
}
