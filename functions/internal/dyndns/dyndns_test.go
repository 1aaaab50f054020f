package dyndns

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

// lookup maps a hostname that is exactly a site's name to the site.
func lookup(h string) (site.Name, bool) {
	return site.Name(h), slices.Contains([]string{"hz", "bj", "sh-2"}, h)
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    Request
		wantErr error
	}{
		{"one host", "hostname=hz", Request{Hostnames: []string{"hz"}}, nil},
		{"with myip", "hostname=hz&myip=1.2.3.4", Request{Hostnames: []string{"hz"}, MyIP: addrs("1.2.3.4")}, nil},
		{"upper case and trailing dot", "hostname=HZ.", Request{Hostnames: []string{"hz"}}, nil},
		{"list", "hostname=hz,bj,%20sh-2%20", Request{Hostnames: []string{"hz", "bj", "sh-2"}}, nil},
		{"repeated parameter", "hostname=hz&hostname=bj", Request{Hostnames: []string{"hz", "bj"}}, nil},
		{"empty entries skipped", "hostname=,hz,,", Request{Hostnames: []string{"hz"}}, nil},
		{"dual-stack myip", "hostname=hz&myip=1.2.3.4,2400:3200::1", Request{Hostnames: []string{"hz"}, MyIP: addrs("1.2.3.4", "2400:3200::1")}, nil},
		{"mapped myip unmapped", "hostname=hz&myip=::ffff:1.2.3.4", Request{Hostnames: []string{"hz"}, MyIP: addrs("1.2.3.4")}, nil},
		{"malformed myip dropped", "hostname=hz&myip=1.2.3", Request{Hostnames: []string{"hz"}}, nil},
		{"zoned myip dropped", "hostname=hz&myip=fe80::1%25eth0", Request{Hostnames: []string{"hz"}}, nil},
		{"empty myip", "hostname=hz&myip=", Request{Hostnames: []string{"hz"}}, nil},
		{"invalid name kept for notfqdn", "hostname=h_z", Request{Hostnames: []string{"h_z"}}, nil},
		{"no hostname", "myip=1.2.3.4", Request{}, ErrNoHostname},
		{"empty hostname", "hostname=", Request{}, ErrNoHostname},
		{"only commas", "hostname=,,", Request{}, ErrNoHostname},
		{"only a dot", "hostname=.", Request{}, ErrNoHostname},
		{"twenty hosts", "hostname=" + strings.Repeat("hz,", 20), Request{Hostnames: slices.Repeat([]string{"hz"}, 20)}, nil},
		{"twenty-one hosts", "hostname=" + strings.Repeat("hz,", 21), Request{}, ErrTooManyHosts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(q)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got.Hostnames, tt.want.Hostnames) || !slices.Equal(got.MyIP, tt.want.MyIP) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidHostname(t *testing.T) {
	tests := []struct {
		h    string
		want bool
	}{
		{"hz", true},
		{"hz.vpn.example.com", true},
		{"0a", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{strings.Repeat("a.", 126) + "a", true},
		{strings.Repeat("a.", 127) + "a", false},
		{"", false},
		{"-hz", false},
		{"hz-", false},
		{"h_z", false},
		{"hz..cn", false},
		{".hz", false},
		{"h z", false},
		{"hé", false},
		{"Hz", false}, // ParseQuery lower-cases first
	}
	for _, tt := range tests {
		if got := ValidHostname(tt.h); got != tt.want {
			t.Errorf("ValidHostname(%q): got %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestChoose(t *testing.T) {
	src4 := netip.MustParseAddr("1.2.3.4")
	src6 := netip.MustParseAddr("2400:3200::9")
	tests := []struct {
		name     string
		source   netip.Addr
		myip     []netip.Addr
		trust    bool
		want     netip.Addr
		wantMyIP bool
	}{
		{"no myip", src4, nil, true, src4, false},
		{"myip not trusted", src4, addrs("5.6.7.8"), false, src4, false},
		{"myip trusted", src4, addrs("5.6.7.8"), true, netip.MustParseAddr("5.6.7.8"), true},
		{"private myip ignored", src4, addrs("192.168.1.2"), true, src4, false},
		{"documentation myip ignored", src4, addrs("203.0.113.7"), true, src4, false},
		{"same family preferred", src6, addrs("5.6.7.8", "2400:3200::1"), true, netip.MustParseAddr("2400:3200::1"), true},
		{"other family when alone", src6, addrs("5.6.7.8"), true, netip.MustParseAddr("5.6.7.8"), true},
		{"mapped source unmapped", netip.MustParseAddr("::ffff:1.2.3.4"), nil, false, src4, false},
		{"no source, trusted myip", netip.Addr{}, addrs("5.6.7.8"), true, netip.MustParseAddr("5.6.7.8"), true},
		{"no source, untrusted", netip.Addr{}, addrs("5.6.7.8"), false, netip.Addr{}, false},
		{"private source still recorded", netip.MustParseAddr("10.1.2.3"), nil, false, netip.MustParseAddr("10.1.2.3"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fromMyIP := Choose(tt.source, tt.myip, tt.trust)
			if got != tt.want || fromMyIP != tt.wantMyIP {
				t.Errorf("got %v,%v, want %v,%v", got, fromMyIP, tt.want, tt.wantMyIP)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	src := netip.MustParseAddr("1.2.3.4")
	hz := Account{Site: "hz"}
	tests := []struct {
		name      string
		query     string
		acc       Account
		source    netip.Addr
		changed   bool
		wantRec   bool
		wantAddr  netip.Addr
		wantReply string
	}{
		{"good", "hostname=hz", hz, src, true, true, src, "good 1.2.3.4\n"},
		{"nochg", "hostname=hz", hz, src, false, true, src, "nochg 1.2.3.4\n"},
		{"other site", "hostname=bj", hz, src, true, false, netip.Addr{}, "nohost\n"},
		{"unknown site", "hostname=gz", hz, src, true, false, netip.Addr{}, "nohost\n"},
		{"fqdn not a site", "hostname=hz.vpn.example.com", hz, src, true, false, netip.Addr{}, "nohost\n"},
		{"invalid name", "hostname=h_z", hz, src, true, false, netip.Addr{}, "notfqdn\n"},
		{"list mixed", "hostname=hz,bj,h_z,HZ.", hz, src, true, true, src, "good 1.2.3.4\nnohost\nnotfqdn\ngood 1.2.3.4\n"},
		{"myip ignored without trust", "hostname=hz&myip=5.6.7.8", hz, src, true, true, src, "good 1.2.3.4\n"},
		{"myip trusted", "hostname=hz&myip=5.6.7.8", Account{Site: "hz", TrustMyIP: true}, src, true, true, netip.MustParseAddr("5.6.7.8"), "good 5.6.7.8\n"},
		{"no address", "hostname=hz", hz, netip.Addr{}, true, false, netip.Addr{}, "911\n"},
		{"no address, list", "hostname=hz,bj", hz, netip.Addr{}, true, false, netip.Addr{}, "911\nnohost\n"},
		{"ipv6 source", "hostname=hz", hz, netip.MustParseAddr("2400:3200::9"), false, true, netip.MustParseAddr("2400:3200::9"), "nochg 2400:3200::9\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			req, err := ParseQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			d := Decide(req, tt.acc, tt.source, lookup)
			if d.Record != tt.wantRec || d.Addr != tt.wantAddr {
				t.Errorf("record: got %v %v, want %v %v", d.Record, d.Addr, tt.wantRec, tt.wantAddr)
			}
			if d.Record && d.Site != tt.acc.Site {
				t.Errorf("site: got %v, want %v", d.Site, tt.acc.Site)
			}
			if got := d.Reply(tt.changed); got != tt.wantReply {
				t.Errorf("reply: got %q, want %q", got, tt.wantReply)
			}
		})
	}
}

func TestDecideNilLookup(t *testing.T) {
	d := Decide(Request{Hostnames: []string{"hz"}}, Account{Site: "hz"}, netip.MustParseAddr("1.2.3.4"), nil)
	if d.Record || d.Reply(true) != "nohost\n" {
		t.Errorf("got %+v, want nohost", d)
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		a    Answer
		want string
	}{
		{Answer{Code: Good, Addr: netip.MustParseAddr("1.2.3.4")}, "good 1.2.3.4"},
		{Answer{Code: NoChg, Addr: netip.MustParseAddr("2400:3200::1")}, "nochg 2400:3200::1"},
		{Answer{Code: BadAuth}, "badauth"},
		{Answer{Code: NoHost}, "nohost"},
		{Answer{Code: NotFQDN}, "notfqdn"},
		{Answer{Code: NumHost}, "numhost"},
		{Answer{Code: Abuse}, "abuse"},
		{Answer{Code: Code911}, "911"},
		{Answer{Code: Good}, "good"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if got := Reply(Answer{Code: BadAuth}); got != "badauth\n" {
		t.Errorf("Reply: got %q, want %q", got, "badauth\n")
	}
	if StatusCode(BadAuth) != http.StatusUnauthorized || StatusCode(Code911) != http.StatusOK || StatusCode(Good) != http.StatusOK {
		t.Error("StatusCode: badauth must be 401, others 200")
	}
}

// TestClientRequests drives the package with requests shaped the way common dyndns2
// clients send them, parsed by net/http as the handler will see them.
func TestClientRequests(t *testing.T) {
	src := netip.MustParseAddr("1.2.3.4")
	tests := []struct {
		name      string
		target    string
		ua        string
		user      string
		acc       Account
		wantReply string
	}{
		{
			name:      "ddclient 3.10 dyndns2",
			target:    "/nic/update?system=dyndns&hostname=hz&myip=1.2.3.4&wildcard=OFF&mx=&backmx=NO",
			ua:        "ddclient/3.10.0",
			user:      "hz",
			acc:       Account{Site: "hz"},
			wantReply: "good 1.2.3.4\n",
		},
		{
			name:      "ddclient with several hosts",
			target:    "/nic/update?system=dyndns&hostname=hz,bj&myip=1.2.3.4&wildcard=NOCHG",
			ua:        "ddclient/3.9.1",
			user:      "hz",
			acc:       Account{Site: "hz"},
			wantReply: "good 1.2.3.4\nnohost\n",
		},
		{
			name:      "inadyn default dyndns2",
			target:    "/nic/update?hostname=hz&myip=5.6.7.8",
			ua:        "inadyn/2.10.0",
			user:      "hz",
			acc:       Account{Site: "hz"},
			wantReply: "good 1.2.3.4\n", // myip not trusted: source wins
		},
		{
			name:      "inadyn trusted myip behind a proxy",
			target:    "/nic/update?hostname=hz&myip=5.6.7.8",
			ua:        "inadyn/2.10.0",
			user:      "hz",
			acc:       Account{Site: "hz", TrustMyIP: true},
			wantReply: "good 5.6.7.8\n",
		},
		{
			name:      "router without myip, fqdn with dot",
			target:    "/nic/update?hostname=BJ.&wildcard=NOCHG&mx=NOCHG&backmx=NOCHG&offline=NO",
			ua:        "Mozilla/4.0 (compatible; router DDNS)",
			user:      "bj",
			acc:       Account{Site: "bj"},
			wantReply: "good 1.2.3.4\n",
		},
		{
			name:      "client without hostname",
			target:    "/nic/update?system=dyndns&myip=1.2.3.4",
			ua:        "ddclient/3.10.0",
			user:      "hz",
			acc:       Account{Site: "hz"},
			wantReply: "notfqdn\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			r.Header.Set("User-Agent", tt.ua)
			r.SetBasicAuth(tt.user, "s3cret")
			user, _, ok := r.BasicAuth()
			if !ok || user != string(tt.acc.Site) {
				t.Fatalf("basic auth: got %q %v, want %q", user, ok, tt.acc.Site)
			}
			req, err := ParseQuery(r.URL.Query())
			if err != nil {
				if !errors.Is(err, ErrNoHostname) || tt.wantReply != "notfqdn\n" {
					t.Errorf("got %v, want %q", err, tt.wantReply)
				}
				return
			}
			d := Decide(req, tt.acc, src, lookup)
			if got := d.Reply(true); got != tt.wantReply {
				t.Errorf("got %q, want %q", got, tt.wantReply)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"hostname=hz",
		"hostname=hz,bj&myip=1.2.3.4",
		"system=dyndns&hostname=hz&myip=1.2.3.4&wildcard=NOCHG&mx=&backmx=NO",
		"hostname=HZ.&myip=::ffff:1.2.3.4,2400:3200::1",
		"hostname=" + strings.Repeat("a,", 30),
		"hostname=%00&myip=%zz",
		"myip=fe80::1%25eth0",
		"",
	} {
		f.Add(s)
	}
	acc := Account{Site: site.Name("hz"), TrustMyIP: true}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := ParseQuery(q)
		if err != nil {
			if req.Hostnames != nil || req.MyIP != nil {
				t.Fatalf("error %v with a non-empty request %+v", err, req)
			}
			if !errors.Is(err, ErrNoHostname) && !errors.Is(err, ErrTooManyHosts) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n := len(req.Hostnames); n == 0 || n > MaxHosts {
			t.Fatalf("%d hostnames accepted", n)
		}
		for _, h := range req.Hostnames {
			if h == "" || h != strings.ToLower(h) {
				t.Fatalf("hostname %q not normalised", h)
			}
		}
		for _, a := range req.MyIP {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("myip %v kept", a)
			}
		}
		d := Decide(req, acc, netip.MustParseAddr("1.2.3.4"), lookup)
		if len(d.Hosts) != len(req.Hostnames) {
			t.Fatalf("%d answers for %d hostnames", len(d.Hosts), len(req.Hostnames))
		}
		if d.Record && (!d.Addr.IsValid() || d.Site != "hz") {
			t.Fatalf("bad decision %+v", d)
		}
		reply := d.Reply(true)
		if strings.Count(reply, "\n") != len(req.Hostnames) {
			t.Fatalf("reply %q has not one line per hostname", reply)
		}
	})
}
