// Command dist packages the office pinger for the people who install it: from the
// binaries `make cross` left in a directory it builds Debian packages (amd64, arm64,
// armhf: the binary in /usr/bin, a systemd service and timer, /etc/ppter/pinger.env as a
// mode 0600 conffile, no maintainer scripts, so nothing is started on install) and
// OpenWrt packages (.ipk for mipsel_24kc, mips_24kc, aarch64_generic, arm_cortex-a7: the
// binary, the procd init script, the env file and a WAN hotplug script), then writes
// SHA256SUMS over everything in the directory.
//
// It is a build tool run by `make dist`, kept out of the pinger binary: nfpm, the
// packaging library, is linked here only.
//
//	go run ./scripts/dist --dir dist --src . --version 1.2.3
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/ipk"
)

// Format is a package format.
type Format string

// Package formats.
const (
	Deb Format = "deb"
	IPK Format = "ipk"
)

// Target is one package: its format and architecture, the `make cross` binary it
// carries, and the ELF machine that binary must be built for.
type Target struct {
	Format  Format
	Arch    string
	Binary  string
	Machine elf.Machine
	Class   elf.Class
	Data    elf.Data
}

// Targets lists every package make dist builds.
var Targets = []Target{
	{Deb, "amd64", "ppter-pinger-linux-amd64", elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{Deb, "arm64", "ppter-pinger-linux-arm64", elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{Deb, "armhf", "ppter-pinger-linux-armv7", elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB},
	{IPK, "mipsel_24kc", "ppter-pinger-linux-mipsle-softfloat", elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2LSB},
	{IPK, "mips_24kc", "ppter-pinger-linux-mips-softfloat", elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2MSB},
	{IPK, "aarch64_generic", "ppter-pinger-linux-arm64", elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{IPK, "arm_cortex-a7", "ppter-pinger-linux-armv7", elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB},
}

// FileName is the package's file name.
func (t Target) FileName(version string) string {
	return fmt.Sprintf("ppter-pinger_%s_%s.%s", version, t.Arch, t.Format)
}

// Errors.
var (
	ErrUsage  = errors.New("usage error")
	ErrBinary = errors.New("unusable binary")
)

// SumsFile is the checksum list written last.
const SumsFile = "SHA256SUMS"

const (
	maintainer = "ppter <ppter@users.noreply.github.com>"
	homepage   = "https://github.com/ppter/ppter"
	summary    = "ppter office pinger: keeps site-to-site VPN peers pointed at offices without a fixed IP"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		if errors.Is(err, ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// Options is what run builds from its flags.
type Options struct {
	Dir     string // where the binaries are and the packages go
	Src     string // the repository root (pinger/contrib, pinger/README.md)
	Version string // package version
	MTime   time.Time
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o Options
	var version string
	fs.StringVar(&o.Dir, "dir", "dist", "directory with the `make cross` binaries; packages are written there")
	fs.StringVar(&o.Src, "src", ".", "repository root")
	fs.StringVar(&version, "version", "", "version (a tag like v1.2.3, or git describe output)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	v, err := PackageVersion(version)
	if err != nil {
		return fmt.Errorf("%w: --version: %v", ErrUsage, err)
	}
	o.Version = v
	// Reproducible packages: file times from SOURCE_DATE_EPOCH when set, else a fixed date.
	o.MTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, t := range Targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := Build(t, o)
		if err != nil {
			return fmt.Errorf("%s %s: %w", t.Format, t.Arch, err)
		}
		fmt.Fprintln(stdout, out)
	}
	if err := WriteSums(o.Dir); err != nil {
		return err
	}
	fmt.Fprintln(stdout, filepath.Join(o.Dir, SumsFile))
	return nil
}

var (
	debVersion = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
	gitDescr   = regexp.MustCompile(`^(?:v?([0-9]+\.[0-9]+\.[0-9]+)-([0-9]+)-g)?([0-9a-f]{7,40})(-dirty)?$`)
)

// PackageVersion turns a tag (v1.2.3) or `git describe --tags --always --dirty` output
// into a version both dpkg and opkg order correctly: v1.2.3 → 1.2.3,
// v1.2.3-4-gabc1234 → 1.2.3+git4.abc1234, abc1234-dirty → 0.0.0+gitabc1234.dirty.
func PackageVersion(v string) (string, error) {
	if v == "" {
		return "", errors.New("empty")
	}
	if m := gitDescr.FindStringSubmatch(v); m != nil {
		base, n := m[1], m[2]
		if base == "" {
			base = "0.0.0"
		}
		out := base + "+git" + n
		if n != "" {
			out += "."
		}
		out += m[3]
		if m[4] != "" {
			out += ".dirty"
		}
		return out, nil
	}
	v = strings.TrimPrefix(v, "v")
	if !debVersion.MatchString(v) {
		return "", fmt.Errorf("%q is not a package version (digits first; letters, digits, . + ~)", v)
	}
	return v, nil
}

// CheckBinary refuses a file that is not a Linux ELF executable for t's machine: a
// package for a MIPS router carrying an ARM binary would install and never run.
func CheckBinary(path string, t Target) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBinary, path, err)
	}
	defer f.Close()
	if f.Machine != t.Machine || f.Class != t.Class || f.Data != t.Data {
		return fmt.Errorf("%w: %s is %s %s %s, want %s %s %s", ErrBinary, path, f.Class, f.Data, f.Machine, t.Class, t.Data, t.Machine)
	}
	return nil
}

// Build writes t's package into o.Dir and returns its path.
func Build(t Target, o Options) (string, error) {
	bin := filepath.Join(o.Dir, t.Binary)
	if err := CheckBinary(bin, t); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "ppter-dist-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	contents, err := Contents(t, bin, o.Src, tmp)
	if err != nil {
		return "", err
	}
	info := &nfpm.Info{
		Name:          "ppter-pinger",
		Arch:          t.Arch,
		Platform:      "linux",
		Version:       o.Version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    maintainer,
		Description:   summary,
		Homepage:      homepage,
		License:       "MIT",
		MTime:         o.MTime,
		Overridables:  nfpm.Overridables{Contents: contents, Umask: 0o022},
	}
	info.Deb.Arch = t.Arch
	info.IPK.Arch = t.Arch
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	var pkgr nfpm.Packager = deb.Default
	if t.Format == IPK {
		pkgr = ipk.Default
	}
	var buf bytes.Buffer
	if err := pkgr.Package(info, &buf); err != nil {
		return "", err
	}
	out := filepath.Join(o.Dir, t.FileName(o.Version))
	if err := writeFileAtomic(out, buf.Bytes()); err != nil {
		return "", err
	}
	return out, nil
}

// Contents lists the files of t's package; src is the repository root, tmp a directory
// for generated files that lives until the package is written.
func Contents(t Target, bin, src, tmp string) (files.Contents, error) {
	contrib := filepath.Join(src, "pinger", "contrib")
	file := func(from, to string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{Source: from, Destination: to, Type: typ, FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode}}
	}
	c := files.Contents{
		file(bin, "/usr/bin/ppter-pinger", 0o755, files.TypeFile),
		{Destination: "/etc/ppter", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o700}},
		file(filepath.Join(contrib, "pinger.env"), "/etc/ppter/pinger.env", 0o600, files.TypeConfigNoReplace),
	}
	switch t.Format {
	case Deb:
		unit, err := os.ReadFile(filepath.Join(contrib, "ppter-pinger.service"))
		if err != nil {
			return nil, err
		}
		// The contrib unit is for a binary installed by hand in /usr/local/bin.
		const hand, pkg = "ExecStart=/usr/local/bin/ppter-pinger", "ExecStart=/usr/bin/ppter-pinger"
		if !bytes.Contains(unit, []byte(hand)) {
			return nil, fmt.Errorf("ppter-pinger.service has no %q line to point at /usr/bin", hand)
		}
		unit = bytes.ReplaceAll(unit, []byte(hand), []byte(pkg))
		unitFile := filepath.Join(tmp, "ppter-pinger.service")
		if err := os.WriteFile(unitFile, unit, 0o644); err != nil {
			return nil, err
		}
		c = append(c,
			file(unitFile, "/usr/lib/systemd/system/ppter-pinger.service", 0o644, files.TypeFile),
			file(filepath.Join(contrib, "ppter-pinger.timer"), "/usr/lib/systemd/system/ppter-pinger.timer", 0o644, files.TypeFile),
			file(filepath.Join(src, "pinger", "README.md"), "/usr/share/doc/ppter-pinger/README.md", 0o644, files.TypeFile),
		)
		recipes, _ := filepath.Glob(filepath.Join(contrib, "recipes", "*.yaml"))
		for _, r := range recipes {
			c = append(c, file(r, "/usr/share/doc/ppter-pinger/recipes/"+filepath.Base(r), 0o644, files.TypeFile))
		}
	case IPK:
		c = append(c,
			file(filepath.Join(contrib, "ppter-pinger.openwrt"), "/etc/init.d/ppter-pinger", 0o755, files.TypeFile),
			file(filepath.Join(contrib, "ppter-pinger.hotplug"), "/etc/hotplug.d/iface/90-ppter-pinger", 0o644, files.TypeFile),
		)
	}
	for _, f := range c {
		if f.Source == "" {
			continue
		}
		if _, err := os.Stat(f.Source); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WriteSums writes dir/SHA256SUMS in sha256sum's format over every other regular file
// in dir, sorted by name.
func WriteSums(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != SumsFile {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), n)
	}
	return writeFileAtomic(filepath.Join(dir, SumsFile), b.Bytes())
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
