package router

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

// uciSection is one section of a uci package: "config TYPE ['NAME']" and its options;
// list options keep every value.
type uciSection struct {
	typ, name string
	keys      []string // option order
	vals      map[string][]string
	list      map[string]bool
}

// fakeOpenWrt models an OpenWrt router for the openwrt driver: uci over real files in a
// config directory (get/set/delete/add_list change a staged copy, as /tmp/.uci does;
// commit writes the file; revert drops the staged copy; malformed paths fail the test),
// ifup bringing a WireGuard interface up with its committed peers, strongSwan's init
// script loading the committed remotes' remote_addrs lists the way swanctl.init reads them
// (config_list_foreach: a plain option is ignored), and swanctl keeping IKE_SAs.
type fakeOpenWrt struct {
	t       *testing.T
	dir     string
	staged  map[string][]*uciSection
	dirty   map[string]bool              // packages with uncommitted changes
	running map[string]map[string]string // wireguard iface → public key → endpoint
	loaded  map[string]string            // swanctl connection → remote_addrs
	sas     map[string]string            // IKE_SA → remote address
	calls   []string

	failIfup, failReload, failInitiate bool
}

const openwrtNetwork = `config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'

config interface 'wg0'
	option proto 'wireguard'
	option private_key 'oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM='
	option listen_port '51820'

config wireguard_wg0
	option description 'to-bj'
	option public_key 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='
	option endpoint_host '198.51.100.9'
	option endpoint_port '51820'
	list allowed_ips '10.2.0.0/24'

config wireguard_wg0
	option description 'to-sh'
	option public_key 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0='
	option endpoint_port '51820'
	list allowed_ips '10.3.0.0/24'
`

const openwrtIPsec = `config ipsec
	list listen 'wan'

config remote 'gz'
	option enabled '1'
	list remote_addrs '203.0.113.1'
	option authentication_method 'psk'
	option pre_shared_key 'not-a-real-psk'
	list tunnel 'gz_lan'

config tunnel 'gz_lan'
	list local_subnet '192.168.1.0/24'
	list remote_subnet '192.168.3.0/24'
	option mode 'tunnel'
`

func newFakeOpenWrt(t *testing.T) *fakeOpenWrt {
	f := &fakeOpenWrt{t: t, dir: t.TempDir(), staged: map[string][]*uciSection{}, dirty: map[string]bool{}, running: map[string]map[string]string{}, loaded: map[string]string{}, sas: map[string]string{}}
	for name, body := range map[string]string{"network": openwrtNetwork, "ipsec": openwrtIPsec} {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The router as booted: interfaces up and remotes loaded from the committed files.
	f.ifup("wg0")
	f.reload()
	f.sas["gz"] = f.loaded["gz"]
	return f
}

var uciLineRe = regexp.MustCompile(`^\s*(config|option|list)\s+(\S+)(?:\s+'([^']*)')?\s*$`)

func (f *fakeOpenWrt) parse(pkg string) ([]*uciSection, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, pkg))
	if err != nil {
		return nil, err
	}
	var secs []*uciSection
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := uciLineRe.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s: bad line %q", pkg, line)
		}
		if m[1] == "config" {
			secs = append(secs, &uciSection{typ: m[2], name: m[3], vals: map[string][]string{}, list: map[string]bool{}})
			continue
		}
		if len(secs) == 0 {
			return nil, fmt.Errorf("%s: option outside a section", pkg)
		}
		s := secs[len(secs)-1]
		if _, ok := s.vals[m[2]]; !ok {
			s.keys = append(s.keys, m[2])
		}
		s.vals[m[2]] = append(s.vals[m[2]], m[3])
		s.list[m[2]] = m[1] == "list"
	}
	return secs, nil
}

func (f *fakeOpenWrt) file(pkg string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, pkg))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func format(secs []*uciSection) []byte {
	var b strings.Builder
	for i, s := range secs {
		if i > 0 {
			b.WriteString("\n")
		}
		if s.name != "" {
			fmt.Fprintf(&b, "config %s '%s'\n", s.typ, s.name)
		} else {
			fmt.Fprintf(&b, "config %s\n", s.typ)
		}
		for _, k := range s.keys {
			for _, v := range s.vals[k] {
				kind := "option"
				if s.list[k] {
					kind = "list"
				}
				fmt.Fprintf(&b, "\t%s %s '%s'\n", kind, k, v)
			}
		}
	}
	return []byte(b.String())
}

// view returns the staged sections of pkg, copying the committed ones on first use.
func (f *fakeOpenWrt) view(pkg string) ([]*uciSection, error) {
	if s, ok := f.staged[pkg]; ok {
		return s, nil
	}
	secs, err := f.parse(pkg)
	if err != nil {
		return nil, err
	}
	f.staged[pkg] = secs
	return secs, nil
}

var uciPathRe = regexp.MustCompile(`^([a-z_]+)\.(?:@([A-Za-z0-9_]+)\[(\d+)\]|([A-Za-z0-9_]+))(?:\.([A-Za-z0-9_]+))?$`)

var errUCINotFound = fmt.Errorf("%w: uci: Entry not found", errExit)

// resolve finds the section and option of a uci path.
func (f *fakeOpenWrt) resolve(path string) (*uciSection, string, error) {
	m := uciPathRe.FindStringSubmatch(path)
	if m == nil {
		f.t.Errorf("fake uci: malformed path %q", path)
		return nil, "", fmt.Errorf("%w: uci: Invalid argument", errExit)
	}
	secs, err := f.view(m[1])
	if err != nil {
		return nil, "", errUCINotFound
	}
	if m[4] != "" {
		for _, s := range secs {
			if s.name == m[4] {
				return s, m[5], nil
			}
		}
		return nil, "", errUCINotFound
	}
	n, _ := strconv.Atoi(m[3])
	for _, s := range secs {
		if s.typ == m[2] {
			if n == 0 {
				return s, m[5], nil
			}
			n--
		}
	}
	return nil, "", errUCINotFound
}

func (f *fakeOpenWrt) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	call := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, call)
	switch name {
	case "uci":
		return f.uci(args)
	case "ifup":
		if len(args) != 1 {
			break
		}
		if f.failIfup {
			return nil, fmt.Errorf("%w: interface %s failed to come up", errExit, args[0])
		}
		return nil, f.ifup(args[0])
	case "/etc/init.d/swanctl":
		if len(args) != 1 || args[0] != "reload" {
			break
		}
		if f.failReload {
			return nil, fmt.Errorf("%w: ERROR: config invalid", errExit)
		}
		return nil, f.reload()
	case "swanctl":
		switch {
		case len(args) == 4 && args[0] == "--terminate" && args[1] == "--ike" && args[3] == "--force":
			if _, ok := f.sas[args[2]]; !ok {
				return nil, fmt.Errorf("%w: terminate failed: no matching SAs to terminate found", errExit)
			}
			delete(f.sas, args[2])
			return nil, nil
		case len(args) == 5 && args[0] == "--initiate" && args[1] == "--ike" && args[3] == "--timeout":
			remote, ok := f.loaded[args[2]]
			if !ok {
				return nil, fmt.Errorf("%w: initiate failed: CHILD_SA config '%s' not found", errExit, args[2])
			}
			if up, ok := f.sas[args[2]]; ok && up != remote {
				f.t.Errorf("fake swanctl: initiate %s while the old IKE_SA to %s is still up", args[2], up)
			}
			if f.failInitiate {
				return nil, fmt.Errorf("%w: initiate failed: establishing CHILD_SA failed", errExit)
			}
			f.sas[args[2]] = remote
			return nil, nil
		}
	}
	f.t.Errorf("fakeOpenWrt: unexpected call %q", call)
	return nil, errExit
}

func (f *fakeOpenWrt) uci(args []string) ([]byte, error) {
	if len(args) > 0 && args[0] == "-q" {
		args = args[1:]
	}
	if len(args) != 2 {
		f.t.Errorf("fake uci: unexpected arguments %q", args)
		return nil, errExit
	}
	cmd, arg := args[0], args[1]
	switch cmd {
	case "get":
		s, opt, err := f.resolve(arg)
		if err != nil {
			return nil, err
		}
		if opt == "" {
			return []byte(s.typ + "\n"), nil
		}
		v, ok := s.vals[opt]
		if !ok {
			return nil, errUCINotFound
		}
		return []byte(strings.Join(v, " ") + "\n"), nil
	case "set", "add_list":
		path, value, ok := strings.Cut(arg, "=")
		if !ok || strings.ContainsAny(value, "'\n") {
			f.t.Errorf("fake uci: bad %s argument %q", cmd, arg)
			return nil, fmt.Errorf("%w: uci: Invalid argument", errExit)
		}
		s, opt, err := f.resolve(path)
		if err != nil {
			return nil, err
		}
		if opt == "" {
			f.t.Errorf("fake uci: %s would create or retype section %q", cmd, path)
			return nil, errExit
		}
		if _, exists := s.vals[opt]; !exists {
			s.keys = append(s.keys, opt)
		}
		f.dirty[pkgOf(path)] = true
		if cmd == "set" {
			s.vals[opt], s.list[opt] = []string{value}, false
		} else {
			s.vals[opt], s.list[opt] = append(s.vals[opt], value), true
		}
		return nil, nil
	case "delete":
		s, opt, err := f.resolve(arg)
		if err != nil {
			return nil, err
		}
		if _, ok := s.vals[opt]; opt == "" || !ok {
			if opt == "" {
				f.t.Errorf("fake uci: delete of a whole section %q", arg)
			}
			return nil, errUCINotFound
		}
		f.dirty[pkgOf(arg)] = true
		delete(s.vals, opt)
		for i, k := range s.keys {
			if k == opt {
				s.keys = append(s.keys[:i], s.keys[i+1:]...)
				break
			}
		}
		return nil, nil
	case "commit":
		if f.dirty[arg] {
			if err := os.WriteFile(filepath.Join(f.dir, arg), format(f.staged[arg]), 0o644); err != nil {
				return nil, err
			}
		}
		delete(f.staged, arg)
		delete(f.dirty, arg)
		return nil, nil
	case "revert":
		delete(f.staged, arg)
		delete(f.dirty, arg)
		return nil, nil
	}
	f.t.Errorf("fake uci: unexpected command %q", cmd)
	return nil, errExit
}

func pkgOf(path string) string {
	pkg, _, _ := strings.Cut(path, ".")
	return pkg
}

// canonical is a uci file with each section's options sorted: uci keeps values, not
// their order (a delete and add_list moves a list to the end).
func canonical(t *testing.T, f *fakeOpenWrt, pkg string) string {
	t.Helper()
	secs, err := f.parse(pkg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		slices.Sort(s.keys)
	}
	return string(format(secs))
}

// ifup brings a WireGuard interface up with its committed peers.
func (f *fakeOpenWrt) ifup(iface string) error {
	secs, err := f.parse("network")
	if err != nil {
		return err
	}
	found := false
	for _, s := range secs {
		if s.typ == "interface" && s.name == iface && len(s.vals["proto"]) == 1 && s.vals["proto"][0] == "wireguard" {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: Interface %s not found", errExit, iface)
	}
	peers := map[string]string{}
	for _, s := range secs {
		if s.typ != "wireguard_"+iface || len(s.vals["public_key"]) != 1 {
			continue
		}
		ep := ""
		if h := s.vals["endpoint_host"]; len(h) == 1 {
			if _, err := netip.ParseAddr(h[0]); err != nil {
				return fmt.Errorf("%w: bad endpoint %q", errExit, h[0])
			}
			ep = h[0]
		}
		peers[s.vals["public_key"][0]] = ep
	}
	f.running[iface] = peers
	return nil
}

// reload loads the committed remotes as swanctl.init does.
func (f *fakeOpenWrt) reload() error {
	secs, err := f.parse("ipsec")
	if err != nil {
		return err
	}
	loaded := map[string]string{}
	for _, s := range secs {
		if s.typ != "remote" {
			continue
		}
		var addrs []string
		if s.list["remote_addrs"] {
			addrs = s.vals["remote_addrs"]
		}
		loaded[s.name] = strings.Join(addrs, ",")
	}
	f.loaded = loaded
	return nil
}

func newOpenWrtDriver(t *testing.T, f *fakeOpenWrt) *OpenWrt {
	t.Helper()
	d, err := NewOpenWrt(OpenWrtConfig{Runner: f, Peers: map[site.Peer]OpenWrtPeer{
		{Site: "bj"}:   {WireGuardInterface: "wg0", PublicKey: keyBJ},
		{Site: "sh"}:   {WireGuardInterface: "wg0", Description: "to-sh"},
		{Site: "gz"}:   {IPsecRemote: "gz"},
		{Site: "nope"}: {WireGuardInterface: "wg0", Description: "to-nowhere"},
		{Site: "nowg"}: {WireGuardInterface: "wg9", Description: "x"},
		{Site: "gone"}: {IPsecRemote: "gone"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenWrtApply(t *testing.T) {
	f := newFakeOpenWrt(t)
	d := newOpenWrtDriver(t, f)
	ctx := context.Background()
	for _, c := range []Change{change("bj", 4, "198.51.100.10"), change("sh", 4, "192.0.2.33"), change("gz", 4, "203.0.113.2"), change("bj", 4, "198.51.100.10"), change("gz", 4, "203.0.113.2")} {
		if !d.Wants(c) {
			t.Fatalf("Wants(%v) = false", c)
		}
		if err := d.Apply(ctx, c); err != nil {
			t.Fatalf("Apply(%v): %v", c, err)
		}
	}
	if got := f.running["wg0"][keyBJ]; got != "198.51.100.10" {
		t.Errorf("running wg0 peer bj endpoint = %q, want 198.51.100.10", got)
	}
	if got := f.running["wg0"][keySH]; got != "192.0.2.33" {
		t.Errorf("running wg0 peer sh endpoint = %q, want 192.0.2.33", got)
	}
	if got := f.loaded["gz"]; got != "203.0.113.2" {
		t.Errorf("loaded gz remote_addrs = %q, want 203.0.113.2", got)
	}
	if got := f.sas["gz"]; got != "203.0.113.2" {
		t.Errorf("IKE_SA gz up to %q, want 203.0.113.2", got)
	}
	if len(f.dirty) != 0 {
		t.Errorf("uncommitted changes left in %v", f.dirty)
	}
	golden(t, "openwrt/network", []byte(f.file("network")))
	golden(t, "openwrt/ipsec", []byte(f.file("ipsec")))
	golden(t, "openwrt/apply.trace", []byte(strings.Join(f.calls, "\n")+"\n"))
}

func TestOpenWrtFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakeOpenWrt)
		c     Change
		want  error
		text  string
	}{
		{name: "no matching wireguard peer", c: change("nope", 4, "192.0.2.9"), want: ErrNotFound, text: `description "to-nowhere"`},
		{name: "no such wireguard interface", c: change("nowg", 4, "192.0.2.9"), want: ErrNotFound, text: "no wireguard_wg9 sections"},
		{name: "no such ipsec remote", c: change("gone", 4, "192.0.2.9"), want: ErrNotFound, text: "remote gone"},
		{name: "ifup fails", setup: func(f *fakeOpenWrt) { f.failIfup = true }, c: change("bj", 4, "192.0.2.9"), want: ErrApply, text: "ifup wg0"},
		{name: "swanctl reload fails", setup: func(f *fakeOpenWrt) { f.failReload = true }, c: change("gz", 4, "192.0.2.9"), want: ErrApply, text: "reload"},
		{name: "initiate fails", setup: func(f *fakeOpenWrt) { f.failInitiate = true }, c: change("gz", 4, "192.0.2.9"), want: ErrApply, text: "--initiate gz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, fresh := newFakeOpenWrt(t), newFakeOpenWrt(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			err := newOpenWrtDriver(t, f).Apply(context.Background(), tc.c)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %s", err, tc.want, tc.text)
			}
			// A failed change leaves the committed configuration as it was, so the next
			// cycle repeats it whole.
			for _, pkg := range []string{"network", "ipsec"} {
				if got, want := canonical(t, f, pkg), canonical(t, fresh, pkg); got != want {
					t.Errorf("%s changed:\n%s\nwant:\n%s", pkg, got, want)
				}
			}
			if len(f.dirty) != 0 {
				t.Errorf("uncommitted changes left in %v", f.dirty)
			}
		})
	}
}

func TestNewOpenWrtRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		peer OpenWrtPeer
		text string
	}{
		{name: "nothing", peer: OpenWrtPeer{}, text: "set either"},
		{name: "both kinds", peer: OpenWrtPeer{IPsecRemote: "gz", WireGuardInterface: "wg0", PublicKey: keyBJ}, text: "set either"},
		{name: "key and description", peer: OpenWrtPeer{WireGuardInterface: "wg0", PublicKey: keyBJ, Description: "x"}, text: "exactly one"},
		{name: "neither key nor description", peer: OpenWrtPeer{WireGuardInterface: "wg0"}, text: "exactly one"},
		{name: "bad key", peer: OpenWrtPeer{WireGuardInterface: "wg0", PublicKey: "abc"}, text: "public_key"},
		{name: "bad interface", peer: OpenWrtPeer{WireGuardInterface: "wg0.x", PublicKey: keyBJ}, text: "wireguard_interface"},
		{name: "bad remote", peer: OpenWrtPeer{IPsecRemote: "gz;reboot"}, text: "ipsec_remote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewOpenWrt(OpenWrtConfig{Peers: map[site.Peer]OpenWrtPeer{{Site: "bj"}: tc.peer}})
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.text)
			}
		})
	}
	if _, err := NewOpenWrt(OpenWrtConfig{}); err == nil || !strings.Contains(err.Error(), "no peers") {
		t.Fatalf("no peers: got %v", err)
	}
}
