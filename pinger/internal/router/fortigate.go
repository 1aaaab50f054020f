package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// FortiGateConfig configures the fortigate driver.
//
//	fortigate:
//	  url: https://192.168.1.99
//	  token_file: /etc/ppter/fortigate.token   # a REST API admin's token; or env PPTER_ROUTER_TOKEN
//	  vdom: root                               # default: the token's VDOM
//	  ca_file: /etc/ppter/fortigate.pem
//	  peers:
//	    bj: { phase1: to-bj }
type FortiGateConfig struct {
	URL        string                      `yaml:"url"`
	TokenFile  string                      `yaml:"token_file"`
	Token      string                      `yaml:"-"`
	VDOM       string                      `yaml:"vdom"`
	TLS        TLSConfig                   `yaml:",inline"`
	Timeout    time.Duration               `yaml:"timeout"`
	Peers      map[site.Peer]FortiGatePeer `yaml:"peers"`
	HTTPClient *http.Client                `yaml:"-"`
}

// FortiGatePeer maps a ppter peer to a route-based IPsec tunnel's phase 1 interface
// (config vpn ipsec phase1-interface), by name. Its remote-gw (remote-gw6 for IPv6)
// follows the peer.
type FortiGatePeer struct {
	Phase1 string      `yaml:"phase1"`
	Family wire.Family `yaml:"family"`
}

func (p FortiGatePeer) family() wire.Family { return p.Family }

func (p FortiGatePeer) check() error {
	if err := checkName("phase1", p.Phase1); err != nil {
		return err
	}
	if len(p.Phase1) > 35 { // FortiOS limits phase1-interface names to 35 characters
		return fmt.Errorf("phase1 %q is longer than 35 characters", p.Phase1)
	}
	return nil
}

// FortiGate drives FortiOS 6.4 and later through its REST API (CMDB, bearer API token):
// it reads the phase 1 interface and PUTs its remote gateway when it differs. FortiOS
// applies a CMDB change at once; there is no separate apply step.
type FortiGate struct {
	peers[FortiGatePeer]
	mapped
	cfg FortiGateConfig
	api *apiClient
}

var _ Driver = (*FortiGate)(nil)

// NewFortiGate returns a fortigate driver.
func NewFortiGate(cfg FortiGateConfig) (*FortiGate, error) {
	if cfg.Token == "" {
		return nil, errors.New("fortigate: no API token: set token_file or PPTER_ROUTER_TOKEN")
	}
	if cfg.VDOM != "" {
		if err := checkName("vdom", cfg.VDOM); err != nil {
			return nil, fmt.Errorf("fortigate: %w", err)
		}
	}
	m, err := peers[FortiGatePeer](cfg.Peers).check("fortigate")
	if err != nil {
		return nil, err
	}
	api, err := newAPIClient(cfg.URL, cfg.TLS, cfg.Timeout, cfg.HTTPClient, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+cfg.Token)
	})
	if err != nil {
		return nil, fmt.Errorf("fortigate: %w", err)
	}
	return &FortiGate{peers: cfg.Peers, mapped: m, cfg: cfg, api: api}, nil
}

// fortiAnswer is the envelope of every FortiOS REST answer.
type fortiAnswer struct {
	Status     string           `json:"status"`
	HTTPStatus int              `json:"http_status"`
	Error      int              `json:"error"`
	CLIError   string           `json:"cli_error"`
	Results    []map[string]any `json:"results"`
}

// Apply sets the phase 1 interface's remote gateway unless it already holds the address.
func (f *FortiGate) Apply(ctx context.Context, c Change) error {
	name := f.peers[c.Ref()].Phase1
	path := "/api/v2/cmdb/vpn.ipsec/phase1-interface/" + url.PathEscape(name)
	if f.cfg.VDOM != "" {
		path += "?vdom=" + url.QueryEscape(f.cfg.VDOM)
	}
	field := "remote-gw"
	if c.Family == 6 {
		field = "remote-gw6"
	}
	var got fortiAnswer
	if err := f.call(ctx, http.MethodGet, path, nil, &got); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("fortigate: %w: phase1-interface %q", ErrNotFound, name)
		}
		return fmt.Errorf("fortigate: get phase1-interface %q: %w", name, err)
	}
	if len(got.Results) != 1 {
		return fmt.Errorf("fortigate: %w: phase1-interface %q", ErrNotFound, name)
	}
	p1 := got.Results[0]
	if typ, _ := p1["type"].(string); typ != "" && typ != "static" {
		return fmt.Errorf("fortigate: %w: phase1-interface %q has remote gateway type %q, want static", ErrApply, name, typ)
	}
	if cur, _ := p1[field].(string); cur == c.New.String() {
		return nil
	}
	body, _ := json.Marshal(map[string]string{field: c.New.String()})
	if err := f.call(ctx, http.MethodPut, path, body, nil); err != nil {
		return fmt.Errorf("fortigate: set phase1-interface %q %s: %w", name, field, err)
	}
	return nil
}

// call sends a request and decodes the answer. A 404 wraps ErrNotFound.
func (f *FortiGate) call(ctx context.Context, method, path string, body []byte, out *fortiAnswer) error {
	status, raw, err := f.api.do(ctx, method, path, "", body)
	if err != nil {
		return err
	}
	var ans fortiAnswer
	_ = json.Unmarshal(raw, &ans) // 401 and 403 come without a JSON body
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status != http.StatusOK || ans.Status != "success":
		msg := http.StatusText(status)
		if ans.CLIError != "" {
			msg += ": " + ans.CLIError
		}
		if ans.Error != 0 {
			msg += fmt.Sprintf(" (error %d)", ans.Error)
		}
		return fmt.Errorf("%w: HTTP %d: %s", ErrApply, status, msg)
	}
	if out != nil {
		*out = ans
	}
	return nil
}
