package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/fcemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// TestTwoOfficesOneGateway runs two instances of the real binary (two processes, as FC runs
// concurrent requests) on one Redis. Two offices whose dual-tunnel connections share one VPN
// gateway change address at the same moment; each ping lands on its own instance. Both
// connections end re-pointed in place, and the emulator saw no write reach the gateway while
// it was applying another (one writer per gateway, by the Redis lock).
func TestTwoOfficesOneGateway(t *testing.T) {
	const gw = "vpn-bp1gw000000000001"
	ali := aliyunemu.New(t, aliyunemu.Options{SecurityToken: "sts-token", UpdatingFor: 2 * time.Second})
	hz := ali.SeedDualTunnel(gw, "to-hz", "198.51.100.2", "psk-hz-0123456789")
	bj := ali.SeedDualTunnel(gw, "to-bj", "198.51.100.3", "psk-bj-0123456789")

	prefix := redistest.Namespace()
	path := t.TempDir() + "/ppter.yaml"
	writeFile(t, path, fmt.Sprintf(`
redis: { url: %q, prefix: %q, single_node: true }
aliyun: { region: cn-hangzhou, vpc_endpoint: %q, protocol: http }
sites:
  hz:
    key: "${PPTER_KEY_HZ}"
    vpn: [ { gateway: %s, connection: to-hz } ]
  bj:
    key: "${PPTER_KEY_BJ}"
    vpn: [ { gateway: %s, connection: to-bj } ]
`, redistest.URL(t), prefix, ali.Endpoint, gw, gw))
	id, secret, token := ali.Credentials()
	instance := func() *fcemu.Emulator {
		return fcemu.StartT(t, fcemu.Options{
			Env:               []string{"PPTER_CONFIG=" + path, "PPTER_KEY_HZ=" + keyHZ, "PPTER_KEY_BJ=" + keyBJ, "PPTER_STATE_KEY=" + testStateKey},
			TrustSourceHeader: true, Timeout: time.Minute,
			Credentials: fcemu.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token},
		})
	}
	instances := []*fcemu.Emulator{instance(), instance()}
	offices := []struct {
		site    site.Name
		key, ip string
	}{{"hz", keyHZ, "203.0.113.7"}, {"bj", keyBJ, "203.0.113.8"}}

	var wg sync.WaitGroup
	answers := make([]wire.PingResponse, 2)
	errs := make([]error, 2)
	for i, o := range offices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = pingVia(instances[i], o.site, o.key, o.ip)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ping %s: %v", offices[i].site, err)
		}
	}
	// A re-point that waited past its ping's budget for the gateway is finished by the
	// resume timer (every minute in production; invoked here at once).
	for round := 0; !applied(answers[0]) || !applied(answers[1]); round++ {
		if round > 5 {
			t.Fatalf("not converged: %+v / %+v", answers[0].Targets, answers[1].Targets)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, ok, err := instances[round%2].Invoke(ctx, fcemu.TimerEvent("resume", "resume", time.Now()))
		cancel()
		if err != nil || !ok {
			t.Fatalf("resume timer: %v %s", err, out)
		}
		var rep struct {
			Targets map[string][]wire.Target `json:"targets"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("resume answer %s: %v", out, err)
		}
		for i, o := range offices {
			if ts, ok := rep.Targets[string(o.site)]; ok {
				answers[i].Targets = ts
			}
		}
	}
	if o := ali.Overlaps(gw); len(o) != 0 {
		t.Fatalf("writes overlapped on the gateway: %+v\nall writes: %+v", o, ali.Writes(gw))
	}
	cgwByIP := map[string]string{}
	for _, c := range ali.CustomerGateways() {
		cgwByIP[c.IP] = c.ID
	}
	if len(cgwByIP) != 2 || cgwByIP["203.0.113.7"] == "" || cgwByIP["203.0.113.8"] == "" {
		t.Fatalf("customer gateways: %+v", ali.CustomerGateways())
	}
	for _, c := range ali.Connections() {
		before, ip := hz, "203.0.113.7"
		if c.Name == "to-bj" {
			before, ip = bj, "203.0.113.8"
		}
		if c.ID != before.ID {
			t.Fatalf("%s: connection recreated (%s → %s)", c.Name, before.ID, c.ID)
		}
		for i, tun := range c.Tunnels {
			want := before.Tunnels[i]
			want.CustomerGatewayID, want.Ike.RemoteId = cgwByIP[ip], ip
			if tun != want {
				t.Fatalf("%s tunnel %s:\n got %+v\nwant %+v", c.Name, tun.Role, tun, want)
			}
		}
	}
	t.Logf("gateway writes: %+v", ali.Writes(gw))
}

func applied(r wire.PingResponse) bool {
	return len(r.Targets) == 1 && r.Targets[0].State == wire.StateApplied
}

// pingVia is fixture.ping for use off the test goroutine.
func pingVia(emu *fcemu.Emulator, s site.Name, key, source string) (wire.PingResponse, error) {
	body := []byte(`{"agent":"e2e"}`)
	hr, err := http.NewRequest(http.MethodPost, emu.URL+wire.PathPing, bytes.NewReader(body))
	if err != nil {
		return wire.PingResponse{}, err
	}
	hr.Header.Set("Authorization", auth.Header(s, []byte(key), http.MethodPost, wire.PathPing, time.Now().Unix(), auth.NewNonce(), body))
	hr.Header.Set(fcemu.SourceHeader, source)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return wire.PingResponse{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var pr wire.PingResponse
	if resp.StatusCode != http.StatusOK {
		return pr, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return pr, json.Unmarshal(b, &pr)
}
