package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/fcemu"
)

func envMap(m map[string]string) env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func runCLI(t *testing.T, e map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, envMap(e), &out, &errb)
	code := exitCode(err, &errb)
	return code, out.String(), errb.String()
}

func TestKeygenAndUsage(t *testing.T) {
	code, out, _ := runCLI(t, nil, "keygen")
	if code != 0 || len(strings.TrimSpace(out)) != 48 {
		t.Fatalf("keygen: %d %q", code, out)
	}
	_, out2, _ := runCLI(t, nil, "keygen")
	if out == out2 {
		t.Fatal("two keygens gave the same secret")
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"keygen", "--nope"}, 2, "unknown flag: --nope"},
		{"bytes too small", []string{"keygen", "--bytes", "8"}, 2, "--bytes must be 16 to 64"},
		{"stray argument", []string{"keygen", "extra"}, 2, `unexpected argument "extra"`},
		{"status without url", []string{"status"}, 2, "--url (or PPTER_URL) is required"},
		{"status without token", []string{"status", "--url", "http://127.0.0.1:1"}, 2, "no admin token"},
		{"listing without credentials", []string{"dns-records", "--zone", "example.com"}, 2, "no credentials"},
		{"check-config without file", []string{"check-config"}, 2, "--config (or PPTER_CONFIG) is required"},
		{"help", []string{"--help"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("got %d %q, want %d containing %q", code, errs, tt.code, tt.want)
			}
			if tt.name == "help" && !strings.Contains(out, "Exit codes:") {
				t.Fatalf("help lacks exit codes: %s", out)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("redis: {url: 'memory://'}\naliyun: {region: cn-hangzhou}\nsites:\n  hz: {key: '${K}', dns: [{zone: example.com, rr: hz, type: A}]}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("redis: {url: 'memory://'}\nsites:\n  hz: {key: '${K}', dns: [{zone: example.com, rr: hz, type: A, ttl: 5}]}\n"), 0o600)
	if code, out, errs := runCLI(t, map[string]string{"K": "0123456789abcdefgh"}, "check-config", "--config", good); code != 0 || !strings.Contains(out, "1 sites, 1 cloud targets") {
		t.Fatalf("good config: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"K": "0123456789abcdefgh"}, "check-config", "--config", bad); code != 2 || !strings.Contains(errs, "sites.hz.dns[0].ttl") {
		t.Fatalf("bad config: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"PPTER_CONFIG": good}, "check-config"); code != 2 || !strings.Contains(errs, "environment variable K is not set") {
		t.Fatalf("missing env: %d %s", code, errs)
	}
}

func TestStatusAgainstTheFunction(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	os.WriteFile(path, []byte("redis: {url: 'memory://'}\nadmin: {token: '"+token+"'}\nsites:\n  hz: {key: 'hz-secret-0123456789', basic: true}\n  bj: {key: 'bj-secret-0123456789'}\n"), 0o600)
	emu := fcemu.StartT(t, fcemu.Options{Env: []string{"PPTER_CONFIG=" + path}, TrustSourceHeader: true})
	req, _ := http.NewRequest("POST", emu.URL+"/v1/ping", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hz:hz-secret-0123456789")))
	req.Header.Set(fcemu.SourceHeader, "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}
	resp.Body.Close()
	code, out, errs := runCLI(t, map[string]string{"PPTER_ADMIN_TOKEN": token}, "status", "--url", emu.URL)
	if code != 0 || !strings.Contains(out, "hz    203.0.113.7") || !strings.Contains(out, "address_changed") {
		t.Fatalf("status: %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runCLI(t, map[string]string{"PPTER_ADMIN_TOKEN": "wrong-token-0123456789"}, "status", "--url", emu.URL)
	if code != 1 || !strings.Contains(errs, "401 unauthorized") {
		t.Fatalf("wrong token: %d %s", code, errs)
	}
}

func TestListings(t *testing.T) {
	ali := aliyunemu.New(t, aliyunemu.Options{})
	ali.AddZone("example.com", false)
	ali.PutRecord("example.com", "hz.vpn", "A", "203.0.113.7", 600)
	ali.SeedTunnel("vpn-bp1gw000000000001", "to-hz", "203.0.113.7", "psk-0123456789")
	id, secret, _ := ali.Credentials()
	path := filepath.Join(t.TempDir(), "ppter.yaml")
	os.WriteFile(path, []byte("redis: {url: 'memory://'}\naliyun: {region: cn-hangzhou, dns_endpoint: '"+ali.Endpoint+"', vpc_endpoint: '"+ali.Endpoint+"', protocol: http}\nsites:\n  hz: {key: 'hz-secret-0123456789'}\n"), 0o600)
	e := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret, "PPTER_CONFIG": path}
	code, out, errs := runCLI(t, e, "dns-records", "--zone", "example.com")
	if code != 0 || !strings.Contains(out, "hz.vpn") || !strings.Contains(out, "203.0.113.7") {
		t.Fatalf("dns-records: %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, e, "vpn", "--gateway", "vpn-bp1gw000000000001")
	if code != 0 || !strings.Contains(out, "to-hz") || strings.Contains(out, "psk-0123456789") {
		t.Fatalf("vpn: %d\n%s\n%s", code, out, errs)
	}
	ali.SeedDualTunnel("vpn-bp1gw000000000002", "to-bj", "203.0.113.8", "psk-bj-0123456789")
	code, out, errs = runCLI(t, e, "vpn", "--gateway", "vpn-bp1gw000000000002")
	if code != 0 || !strings.Contains(out, "dual-tunnel") || !strings.Contains(out, "47.0.0.2") || !strings.Contains(out, "slave") ||
		strings.Contains(out, "psk-bj-0123456789") {
		t.Fatalf("vpn (dual-tunnel): %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runCLI(t, e, "dns-records", "--zone", "nope.example")
	if code != 1 || errs == "" {
		t.Fatalf("unknown zone: %d %s", code, errs)
	}
	e["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "wrong"
	code, _, errs = runCLI(t, e, "vpn", "--gateway", "vpn-bp1gw000000000001")
	if code != 1 || errs == "" {
		t.Fatalf("bad signature: %d %s", code, errs)
	}
	ali.TakeUnexpected() // the refused bad-signature request is expected here
}
