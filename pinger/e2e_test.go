package pinger_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ppter/ppter/internal/fcemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/pinger/internal/agent"
	"github.com/ppter/ppter/pinger/internal/client"
	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

const (
	keyHZ = "hz-e2e-secret-0123456789"
	keyBJ = "bj-e2e-secret-0123456789"
)

// sourceRT sets the address the emulated FC gateway reports to the function, so a test
// can move an office to a new public address.
type sourceRT struct {
	mu   sync.Mutex
	ip   string
	base http.RoundTripper
}

func (s *sourceRT) set(ip string) { s.mu.Lock(); s.ip = ip; s.mu.Unlock() }

func (s *sourceRT) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	r = r.Clone(r.Context())
	r.Header.Set(fcemu.SourceHeader, ip)
	return s.base.RoundTrip(r)
}

// office is one pinger with the exec driver and its hook log.
type office struct {
	t     *testing.T
	agent *agent.Agent
	src   *sourceRT
	hook  string
}

func newOffice(t *testing.T, base *url.URL, name site.Name, secret, ip string) *office {
	t.Helper()
	dir := t.TempDir()
	tr, err := client.NewTransport(wire.IPv4, client.Source{})
	if err != nil {
		t.Fatal(err)
	}
	o := &office{t: t, src: &sourceRT{ip: ip, base: tr}, hook: filepath.Join(dir, "hook.log")}
	c, err := client.New(client.Options{
		BaseURL: base, Site: name, Secret: []byte(secret), Agent: "ppter-pinger/e2e",
		HTTPClient: &http.Client{Transport: o.src},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := router.NewExec(router.ExecConfig{
		Command: `echo "$PPTER_PEER $PPTER_FAMILY $PPTER_PEER_OLD_IP>$PPTER_PEER_IP self=$PPTER_SELF_IP" >> "$HOOK_OUT"`,
		Env:     []string{"PATH=/usr/bin:/bin", "HOOK_OUT=" + o.hook},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.agent = agent.New(agent.Options{
		Site: name, Pings: []agent.Ping{{Family: 4, Pinger: c}}, Driver: d,
		StatePath: filepath.Join(dir, "state.json"),
	})
	return o
}

func (o *office) cycle() {
	o.t.Helper()
	if _, err := o.agent.Cycle(context.Background()); err != nil {
		o.t.Fatalf("cycle: %v", err)
	}
}

// hookRuns returns the hook's lines and truncates the log.
func (o *office) hookRuns() []string {
	o.t.Helper()
	b, err := os.ReadFile(o.hook)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		o.t.Fatal(err)
	}
	os.Remove(o.hook)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestEndToEndWithFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the function")
	}
	cfg := fmt.Sprintf(`
redis: { url: %q, prefix: %q }
sites:
  hz: { key: "${PPTER_KEY_HZ}" }
  bj: { key: "${PPTER_KEY_BJ}" }
`, redistest.URL(t), redistest.Namespace())
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	emu := fcemu.StartT(t, fcemu.Options{
		Env:               []string{"PPTER_CONFIG=" + path, "PPTER_KEY_HZ=" + keyHZ, "PPTER_KEY_BJ=" + keyBJ},
		TrustSourceHeader: true,
	})
	base, err := url.Parse(emu.URL)
	if err != nil {
		t.Fatal(err)
	}
	hz := newOffice(t, base, "hz", keyHZ, "203.0.113.7")
	bj := newOffice(t, base, "bj", keyBJ, "198.51.100.9")

	// Both offices report in; each then applies the other once.
	hz.cycle()
	bj.cycle()
	hz.cycle()
	if got, want := strings.Join(bj.hookRuns(), "|"), "hz ipv4 >203.0.113.7 self=198.51.100.9"; got != want {
		t.Errorf("bj's first hook runs: got %q, want %q", got, want)
	}
	if got, want := strings.Join(hz.hookRuns(), "|"), "bj ipv4 >198.51.100.9 self=203.0.113.7"; got != want {
		t.Errorf("hz's first hook runs: got %q, want %q", got, want)
	}

	// hz's line gets a new address; bj learns it on its next cycle, exactly once.
	hz.src.set("203.0.113.8")
	hz.cycle()
	if got := hz.hookRuns(); got != nil {
		t.Errorf("hz's hook ran for its own move: %q", got)
	}
	bj.cycle()
	if got, want := strings.Join(bj.hookRuns(), "|"), "hz ipv4 203.0.113.7>203.0.113.8 self=198.51.100.9"; got != want {
		t.Errorf("bj's hook after hz moved: got %q, want %q", got, want)
	}
	bj.cycle()
	hz.cycle()
	if got := bj.hookRuns(); got != nil {
		t.Errorf("bj's second cycle ran the hook again: %q", got)
	}
	if got := hz.hookRuns(); got != nil {
		t.Errorf("hz's hook ran with nothing changed: %q", got)
	}
}
