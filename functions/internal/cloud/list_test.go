package cloud

import (
	"errors"
	"strings"
	"testing"
)

func TestListings(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 120; i++ { // more than one page
		e.emu.PutRecord("example.com", "h"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), "A", "192.0.2.1", 600)
	}
	recs, err := ListZone(e.r.DNS, "example.com")
	if err != nil || len(recs) != 120 {
		t.Fatalf("ListZone: got %d records, %v", len(recs), err)
	}
	var b strings.Builder
	if err := PrintZone(&b, recs[:1]); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "RR") || strings.Index(lines[0], "RECORD ID") != strings.Index(lines[1], recs[0].RecordID) {
		t.Fatalf("PrintZone not aligned:\n%s", b.String())
	}

	inv, err := ListGateway(e.r.VPC, e.emu.Region(), gwID)
	if err != nil || len(inv.Connections) != 1 || len(inv.CustomerGateways) != 1 || inv.Connections[0].CustomerGatewayIP != oldIP || inv.GatewayStatus != "active" {
		t.Fatalf("ListGateway: got %+v, %v", inv, err)
	}
	b.Reset()
	if err := PrintGateway(&b, inv); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"CONNECTION", connNm, oldIP, "192.168.1.0/24", "CUSTOMER GATEWAY", "1 connection(s) here"} {
		if !strings.Contains(out, want) {
			t.Fatalf("PrintGateway lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pr3shared") {
		t.Fatal("listing shows the PSK")
	}
	if e.emu.MutatingCalls() != 0 {
		t.Fatal("listing mutated")
	}
}

func TestClientConfig(t *testing.T) {
	ok := ClientConfig{Region: "cn-hangzhou", Credentials: Credentials{AccessKeyID: "id", AccessKeySecret: "s", SecurityToken: "tok"}}
	if _, err := NewDNSClient(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cfg, _ := ok.sdkConfig("")
	if *cfg.ConnectTimeout != 5 || *cfg.ReadTimeout != 15000 || *cfg.Protocol != "HTTPS" || *cfg.SecurityToken != "tok" || cfg.Endpoint != nil {
		t.Fatalf("sdk config: got %+v", cfg)
	}
	for name, c := range map[string]ClientConfig{
		"no region":    {Credentials: ok.Credentials},
		"no key":       {Region: "cn-hangzhou"},
		"bad protocol": {Region: "cn-hangzhou", Protocol: "ftp", Credentials: ok.Credentials},
	} {
		if _, err := NewVPCClient(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}
