package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// stubELF is a minimal ELF header for t's machine followed by a marker, so a test can
// tell which binary landed in which package.
func stubELF(t Target, marker string) []byte {
	var b bytes.Buffer
	var order binary.ByteOrder = binary.LittleEndian
	if t.Data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(t.Class), byte(t.Data), byte(elf.EV_CURRENT)}
	if t.Class == elf.ELFCLASS64 {
		binary.Write(&b, order, elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(t.Machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64})
	} else {
		binary.Write(&b, order, elf.Header32{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(t.Machine), Version: uint32(elf.EV_CURRENT), Ehsize: 52})
	}
	b.WriteString(marker)
	return b.Bytes()
}

// crossDir writes what `make cross` leaves: a stub for every binary, the non-Linux ones
// included.
func crossDir(t testing.TB) string {
	dir := t.TempDir()
	for _, tg := range Targets {
		if err := os.WriteFile(filepath.Join(dir, tg.Binary), stubELF(tg, "binary "+tg.Binary), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, other := range []string{"ppter-pinger-windows-amd64.exe", "ppter-pinger-darwin-arm64"} {
		if err := os.WriteFile(filepath.Join(dir, other), []byte("not linux "+other), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const testVersion = "1.2.3"

var (
	builtOnce sync.Once
	builtDir  string
	builtOut  string
	builtErr  error
)

// built runs dist once over a stub cross directory and returns it.
func built(t *testing.T) string {
	t.Helper()
	builtOnce.Do(func() {
		builtDir, builtErr = os.MkdirTemp("", "ppter-dist-test-")
		if builtErr != nil {
			return
		}
		dir := crossDir(t)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			os.WriteFile(filepath.Join(builtDir, e.Name()), b, 0o755)
		}
		var out bytes.Buffer
		builtErr = run(context.Background(), []string{"--dir", builtDir, "--src", "../..", "--version", "v" + testVersion}, &out)
		builtOut = out.String()
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func TestDistWritesEveryPackageAndSums(t *testing.T) {
	dir := built(t)
	var want []string
	for _, tg := range Targets {
		want = append(want, filepath.Join(dir, tg.FileName(testVersion)))
	}
	want = append(want, filepath.Join(dir, SumsFile))
	if got := strings.Fields(builtOut); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed:\n%s\nwant:\n%s", builtOut, strings.Join(want, "\n"))
	}
	sums, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.Name() != SumsFile {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	if len(lines) != len(names) || len(names) != len(Targets)+len(Targets)-2+2 {
		t.Fatalf("SHA256SUMS has %d lines for %d files:\n%s", len(lines), len(names), sums)
	}
	for i, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		b, _ := os.ReadFile(filepath.Join(dir, name))
		h := sha256.Sum256(b)
		if !ok || name != names[i] || sum != hex.EncodeToString(h[:]) {
			t.Errorf("SHA256SUMS line %q: want %s's sum", line, names[i])
		}
	}
	if p, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(p, "--check", "--strict", SumsFile)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check: %v\n%s", err, out)
		}
	}
}

func TestPackageVersion(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "v1.2.3", want: "1.2.3"},
		{in: "1.2.3~rc1", want: "1.2.3~rc1"},
		{in: "v1.2.3-4-gabc1234", want: "1.2.3+git4.abc1234"},
		{in: "v1.2.3-4-gabc1234-dirty", want: "1.2.3+git4.abc1234.dirty"},
		{in: "5bb8091", want: "0.0.0+git5bb8091"},
		{in: "5bb8091-dirty", want: "0.0.0+git5bb8091.dirty"},
		{in: "", wantErr: true},
		{in: "dev", wantErr: true},
		{in: "1.2 3", wantErr: true},
		{in: "1.2.3_beta", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := PackageVersion(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %q, %v, want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	amd64, mipsle := Targets[0], Targets[3]
	tests := []struct {
		name  string
		args  []string
		setup func(dir string)
		want  error
		text  string
	}{
		{name: "bad version", args: []string{"--version", "dev"}, want: ErrUsage, text: "--version"},
		{name: "unknown flag", args: []string{"--version", "1.0.0", "--arch", "x"}, want: ErrUsage, text: "arch"},
		{name: "missing binary", args: []string{"--version", "1.0.0"}, setup: func(dir string) { os.Remove(filepath.Join(dir, mipsle.Binary)) }, want: ErrBinary, text: mipsle.Binary},
		{name: "binary of another machine", args: []string{"--version", "1.0.0"}, setup: func(dir string) {
			os.WriteFile(filepath.Join(dir, mipsle.Binary), stubELF(amd64, "x"), 0o755)
		}, want: ErrBinary, text: "is ELFCLASS64 ELFDATA2LSB EM_X86_64, want ELFCLASS32 ELFDATA2LSB EM_MIPS"},
		{name: "big-endian binary for mipsel", args: []string{"--version", "1.0.0"}, setup: func(dir string) {
			os.WriteFile(filepath.Join(dir, mipsle.Binary), stubELF(Targets[4], "x"), 0o755)
		}, want: ErrBinary, text: "ELFDATA2MSB"},
		{name: "not an ELF file", args: []string{"--version", "1.0.0"}, setup: func(dir string) {
			os.WriteFile(filepath.Join(dir, amd64.Binary), []byte("#!/bin/sh\n"), 0o755)
		}, want: ErrBinary, text: amd64.Binary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := crossDir(t)
			if tc.setup != nil {
				tc.setup(dir)
			}
			err := run(context.Background(), append([]string{"--dir", dir, "--src", "../.."}, tc.args...), io.Discard)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.text)
			}
			if _, err := os.Stat(filepath.Join(dir, SumsFile)); err == nil {
				t.Error("SHA256SUMS written after a failure")
			}
		})
	}
}

// readTarGz lists a .tar.gz: names (without "./") → header and content.
func readTarGz(t *testing.T, r io.Reader) map[string]*tarEntry {
	t.Helper()
	gz, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]*tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = &tarEntry{h, b}
	}
}

type tarEntry struct {
	h    *tar.Header
	body []byte
}

func TestIPKPackages(t *testing.T) {
	dir := built(t)
	for _, tg := range Targets {
		if tg.Format != IPK {
			continue
		}
		t.Run(tg.Arch, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, tg.FileName(testVersion)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			outer := readTarGz(t, f)
			if e := outer["debian-binary"]; e == nil || string(e.body) != "2.0\n" {
				t.Fatalf("debian-binary missing or wrong: %v", outer)
			}
			if outer["control.tar.gz"] == nil || outer["data.tar.gz"] == nil {
				t.Fatalf("want control.tar.gz and data.tar.gz, got %v", outer)
			}
			control := readTarGz(t, bytes.NewReader(outer["control.tar.gz"].body))
			ctl := string(control["control"].body)
			for _, line := range []string{"Package: ppter-pinger\n", "Version: " + testVersion + "\n", "Architecture: " + tg.Arch + "\n", "Maintainer: " + maintainer + "\n"} {
				if !strings.Contains(ctl, line) {
					t.Errorf("control lacks %q:\n%s", line, ctl)
				}
			}
			if got := string(control["conffiles"].body); got != "/etc/ppter/pinger.env\n" {
				t.Errorf("conffiles = %q", got)
			}
			for _, script := range []string{"postinst", "preinst", "prerm", "postrm"} {
				if control[script] != nil {
					t.Errorf("control has a %s script: nothing should run on install", script)
				}
			}
			data := readTarGz(t, bytes.NewReader(outer["data.tar.gz"].body))
			want := map[string]int64{
				"usr/bin/ppter-pinger":                0o755,
				"etc/init.d/ppter-pinger":             0o755,
				"etc/hotplug.d/iface/90-ppter-pinger": 0o644,
				"etc/ppter":                           0o700,
				"etc/ppter/pinger.env":                0o600,
			}
			for name, mode := range want {
				e := data[name]
				if e == nil {
					t.Errorf("%s missing", name)
					continue
				}
				if e.h.Mode&0o7777 != mode || e.h.Uname != "root" || e.h.Gname != "root" {
					t.Errorf("%s: mode %o owner %s:%s, want %o root:root", name, e.h.Mode, e.h.Uname, e.h.Gname, mode)
				}
			}
			if b := data["usr/bin/ppter-pinger"]; b != nil && !bytes.HasSuffix(b.body, []byte("binary "+tg.Binary)) {
				t.Errorf("usr/bin/ppter-pinger is not %s", tg.Binary)
			}
			src, _ := os.ReadFile("../../pinger/contrib/ppter-pinger.openwrt")
			if e := data["etc/init.d/ppter-pinger"]; e != nil && !bytes.Equal(e.body, src) {
				t.Error("etc/init.d/ppter-pinger differs from pinger/contrib/ppter-pinger.openwrt")
			}
			if e := data["etc/init.d/ppter-pinger"]; e != nil && !bytes.Contains(e.body, []byte("USE_PROCD=1")) {
				t.Error("the init script is not a procd script")
			}
			for _, script := range []string{"etc/init.d/ppter-pinger", "etc/hotplug.d/iface/90-ppter-pinger"} {
				if e := data[script]; e != nil {
					cmd := exec.Command("sh", "-n")
					cmd.Stdin = bytes.NewReader(e.body)
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Errorf("%s: sh -n: %v\n%s", script, err, out)
					}
				}
			}
		})
	}
}

// TestDebInstall installs the amd64 package into a throwaway root with dpkg --root
// (no maintainer scripts, so nothing runs chrooted), checks files and modes, verifies the
// units with systemd-analyze against that root, then removes and purges it.
func TestDebInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root to set owners; run as root (CI does)")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install the packages .ci/run lists (README, Installing for the tests)", tool)
		}
	}
	deb := filepath.Join(built(t), Targets[0].FileName(testVersion))
	root := t.TempDir()
	for _, d := range []string{"info", "updates", "triggers", "alternatives"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkg := func(args ...string) {
		t.Helper()
		out, err := exec.Command("dpkg", append([]string{"--root=" + root}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %v: %v\n%s", args, err, out)
		}
	}
	dpkg("-i", deb)
	want := map[string]fs.FileMode{
		"usr/bin/ppter-pinger":                        0o755,
		"usr/lib/systemd/system/ppter-pinger.service": 0o644,
		"usr/lib/systemd/system/ppter-pinger.timer":   0o644,
		"etc/ppter":            0o700 | fs.ModeDir,
		"etc/ppter/pinger.env": 0o600,
		"usr/share/doc/ppter-pinger/recipes/ikuai.yaml": 0o644,
	}
	for name, mode := range want {
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/bin/ppter-pinger")); !bytes.HasSuffix(b, []byte("binary "+Targets[0].Binary)) {
		t.Error("usr/bin/ppter-pinger is not the amd64 binary")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/ppter-pinger.conffiles")); string(b) != "/etc/ppter/pinger.env\n" {
		t.Errorf("conffiles = %q, want /etc/ppter/pinger.env", b)
	}
	// Nothing started or enabled: no maintainer scripts, no unit links.
	for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
		if _, err := os.Stat(filepath.Join(root, "var/lib/dpkg/info/ppter-pinger."+script)); err == nil {
			t.Errorf("the package has a %s script", script)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd")); err == nil {
		t.Error("the package enabled a unit (etc/systemd exists)")
	}
	unit, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/ppter-pinger.service"))
	if !bytes.Contains(unit, []byte("\nExecStart=/usr/bin/ppter-pinger\n")) || !bytes.Contains(unit, []byte("\nEnvironmentFile=/etc/ppter/pinger.env\n")) {
		t.Errorf("the service does not run /usr/bin/ppter-pinger with /etc/ppter/pinger.env:\n%s", unit)
	}
	// --recursive-errors=no: the throwaway root has no sysinit.target and friends; the
	// package's own units (syntax, ExecStart executable in the root) are still checked.
	if out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "--recursive-errors=no", "ppter-pinger.service", "ppter-pinger.timer").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	dpkg("-r", "ppter-pinger")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/ppter-pinger")); err == nil {
		t.Error("binary left after dpkg -r")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/ppter/pinger.env")); err != nil {
		t.Errorf("dpkg -r removed the conffile: %v", err)
	}
	dpkg("--purge", "ppter-pinger")
	var left []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if rel == "var/lib/dpkg" {
			return filepath.SkipDir
		}
		if rel != "." && rel != "var" && rel != "var/lib" {
			left = append(left, rel)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left after purge: %v", left)
	}
}

// TestHotplugScript sources the OpenWrt hotplug script the way hotplug-call does (in a
// loop over scripts, so it must return, not exit) with the init script's path pointed at
// a stub that logs its arguments.
func TestHotplugScript(t *testing.T) {
	src, err := os.ReadFile("../../pinger/contrib/ppter-pinger.hotplug")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, action, iface string
		enabled             bool
		want                string
	}{
		{name: "wan up", action: "ifup", iface: "wan", enabled: true, want: "enabled\nrestart\n"},
		{name: "wan new address", action: "ifupdate", iface: "wan", enabled: true, want: "enabled\nrestart\n"},
		{name: "second wan", action: "ifup", iface: "wan_2", enabled: true, want: "enabled\nrestart\n"},
		{name: "wan6", action: "ifup", iface: "wan6", enabled: true, want: "enabled\nrestart\n"},
		{name: "mwan3 second wan", action: "ifup", iface: "wanb", enabled: true, want: "enabled\nrestart\n"},
		{name: "numbered second wan", action: "ifupdate", iface: "wan2", enabled: true, want: "enabled\nrestart\n"},
		{name: "mwan3 second wan6", action: "ifup", iface: "wanb6", enabled: true, want: "enabled\nrestart\n"},
		{name: "wwan", action: "ifup", iface: "wwan", enabled: true, want: "enabled\nrestart\n"},
		{name: "lan2 up", action: "ifup", iface: "lan2", enabled: true, want: ""},
		{name: "service not enabled", action: "ifup", iface: "wan", want: "enabled\n"},
		{name: "wan down", action: "ifdown", iface: "wan", enabled: true, want: ""},
		{name: "lan up", action: "ifup", iface: "lan", enabled: true, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "calls")
			stub := filepath.Join(dir, "ppter-pinger")
			enabled := "1"
			if tc.enabled {
				enabled = "0"
			}
			if err := os.WriteFile(stub, []byte("#!/bin/sh\necho \"$1\" >> "+log+"\n[ \"$1\" != enabled ] || exit "+enabled+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(dir, "90-ppter-pinger")
			body := strings.ReplaceAll(string(src), "/etc/init.d/ppter-pinger", stub)
			if body == string(src) {
				t.Fatal("the hotplug script does not call /etc/init.d/ppter-pinger")
			}
			if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", `for s in "$1"; do . "$s"; done; echo next-script`, "sh", script)
			cmd.Env = append(os.Environ(), "ACTION="+tc.action, "INTERFACE="+tc.iface)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasSuffix(string(out), "next-script\n") {
				t.Fatalf("hotplug-call loop did not go on after the script: %v\n%s", err, out)
			}
			got, _ := os.ReadFile(log)
			if string(got) != tc.want {
				t.Errorf("init script called with %q, want %q", got, tc.want)
			}
		})
	}
}
