package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// TestRealDDClient runs Debian's ddclient against the real function binary: the router-side
// DDNS client most Linux routers ship.
func TestRealDDClient(t *testing.T) {
	bin, err := exec.LookPath("ddclient")
	if err != nil {
		t.Skip("ddclient not installed (apt-get install ddclient; .ci/run installs it)")
	}
	f := start(t, "")
	dir := t.TempDir()
	conf := filepath.Join(dir, "ddclient.conf")
	err = os.WriteFile(conf, []byte(strings.Join([]string{
		"daemon=0", "ssl=no", "protocol=dyndns2",
		"server=" + strings.TrimPrefix(f.emu.URL, "http://"),
		"use=ip, ip=203.0.113.7", "login=hz", "password='" + keyHZ + "'", "hz", ""}, "\n")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	run := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-file", conf, "-cache", filepath.Join(dir, "cache"),
			"-foreground", "-daemon=0", "-force", "-verbose", "-noquiet").CombinedOutput()
		if err != nil {
			t.Fatalf("ddclient: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "RECEIVE:  good 127.0.0.1") || !strings.Contains(out, "SUCCESS:  updating hz") {
		t.Fatalf("first ddclient run:\n%s", out)
	}
	if out := run(); !strings.Contains(out, "RECEIVE:  nochg 127.0.0.1") {
		t.Fatalf("second ddclient run:\n%s", out)
	}
	if p := f.ping(t, "bj", keyBJ, "198.51.100.9"); p.Peers[0].Site != "hz" || wire.AddrString(p.Peers[0].IPv4) != "127.0.0.1" {
		t.Fatalf("bj sees hz as %+v", p.Peers[0])
	}
	if strings.Contains(f.logs.String(), keyHZ) {
		t.Fatal("the function logged the secret")
	}
}

// TestRealInadyn runs Debian's inadyn (the DDNS client of many embedded routers) against the
// real function binary with its "custom" dyndns2 provider.
func TestRealInadyn(t *testing.T) {
	bin, err := exec.LookPath("inadyn")
	if err != nil {
		t.Skip("inadyn not installed (apt-get install inadyn; .ci/run installs it)")
	}
	f := start(t, "")
	dir := t.TempDir()
	conf := filepath.Join(dir, "inadyn.conf")
	err = os.WriteFile(conf, []byte(`period = 300
custom ppter {
    ssl = false
    username = hz
    password = "`+keyHZ+`"
    ddns-server = "`+strings.TrimPrefix(f.emu.URL, "http://")+`"
    ddns-path = "/nic/update?hostname=%h&myip=%i"
    checkip-command = "echo 203.0.113.7"
    hostname = hz
}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--once", "--foreground", "--no-pidfile", "-f", conf,
		"--cache-dir="+filepath.Join(dir, "cache"), "-l", "debug").CombinedOutput()
	if err != nil {
		t.Fatalf("inadyn: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "good 127.0.0.1") || !strings.Contains(string(out), "Successful alias table update for hz") {
		t.Fatalf("inadyn output:\n%s", out)
	}
	if p := f.ping(t, "bj", keyBJ, "198.51.100.9"); wire.AddrString(p.Peers[0].IPv4) != "127.0.0.1" {
		t.Fatalf("bj sees hz as %+v", p.Peers[0])
	}
}
