package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseLines(t *testing.T) {
	dir := t.TempDir()
	two := "lines:\n  - { name: telecom, bind_address: 192.0.2.1 }\n  - { name: unicom, interface: pppoe-wan2 }\n"
	tests := []struct {
		name    string
		yaml    string // "" for no --config
		args    []string
		env     []string
		want    []Line
		wantErr string
	}{
		{name: "none: the default line by the default route", want: []Line{{}}},
		{name: "flags", args: []string{"--line", "unicom", "--bind-address", "192.0.2.2", "--interface", "eth1"},
			want: []Line{{Name: "unicom", BindAddress: netip.MustParseAddr("192.0.2.2"), Interface: "eth1"}}},
		{name: "env", env: []string{"PPTER_LINE=unicom", "PPTER_BIND_ADDRESS=192.0.2.2", "PPTER_INTERFACE=eth1"},
			want: []Line{{Name: "unicom", BindAddress: netip.MustParseAddr("192.0.2.2"), Interface: "eth1"}}},
		{name: "flag beats env beats file", yaml: "line: telecom\ninterface: eth0\nbind_address: 192.0.2.1\n", args: []string{"--line", "unicom"}, env: []string{"PPTER_INTERFACE=eth1"},
			want: []Line{{Name: "unicom", BindAddress: netip.MustParseAddr("192.0.2.1"), Interface: "eth1"}}},
		{name: "lines list", yaml: two, want: []Line{
			{Name: "telecom", BindAddress: netip.MustParseAddr("192.0.2.1")}, {Name: "unicom", Interface: "pppoe-wan2"}}},
		{name: "lines list and --line", yaml: two, args: []string{"--line", "unicom"}, wantErr: "lines: lists every line"},
		{name: "lines list and PPTER_INTERFACE", yaml: two, env: []string{"PPTER_INTERFACE=eth1"}, wantErr: "lines: lists every line"},
		{name: "lines list and file line", yaml: two + "line: unicom\n", wantErr: "lines: lists every line"},
		{name: "line twice", yaml: "lines:\n  - { name: unicom }\n  - { name: unicom }\n", wantErr: "line unicom is listed twice"},
		{name: "line without name", yaml: "lines:\n  - { interface: eth1 }\n", wantErr: "lines[0]: name is required"},
		{name: "bad line name", args: []string{"--line", "China-Unicom"}, wantErr: `invalid line name "China-Unicom"`},
		{name: "bad line name in file", yaml: "lines:\n  - { name: Unicom }\n", wantErr: `invalid line name "Unicom"`},
		{name: "bad bind address", args: []string{"--bind-address", "192.0.2"}, wantErr: "--bind-address"},
		{name: "unspecified bind address", args: []string{"--bind-address", "0.0.0.0"}, wantErr: "not a unicast address"},
		{name: "bind address of the other family", args: []string{"--bind-address", "2001:db8::1"}, wantErr: "not an ipv4 address"},
		{name: "bind address with both families", args: []string{"--bind-address", "2001:db8::1", "--ip-family", "both"}, wantErr: "use --ip-family 6"},
		{name: "IPv6 bind address", args: []string{"--bind-address", "2001:db8::1", "--ip-family", "6"},
			want: []Line{{BindAddress: netip.MustParseAddr("2001:db8::1")}}},
		// An IPv4-mapped bind address is the IPv4 address it maps, wherever it is given:
		// the ping binds, and its answer is compared, as IPv4.
		{name: "IPv4-mapped bind address", args: []string{"--bind-address", "::ffff:192.0.2.1"},
			want: []Line{{BindAddress: netip.MustParseAddr("192.0.2.1")}}},
		{name: "IPv4-mapped bind address in env", env: []string{"PPTER_BIND_ADDRESS=::ffff:192.0.2.1"},
			want: []Line{{BindAddress: netip.MustParseAddr("192.0.2.1")}}},
		{name: "IPv4-mapped bind address in file", yaml: "bind_address: ::ffff:192.0.2.1\n",
			want: []Line{{BindAddress: netip.MustParseAddr("192.0.2.1")}}},
		{name: "IPv4-mapped bind address in lines list", yaml: "lines:\n  - { name: telecom, bind_address: '::ffff:192.0.2.1' }\n  - { name: unicom, interface: pppoe-wan2 }\n", want: []Line{
			{Name: "telecom", BindAddress: netip.MustParseAddr("192.0.2.1")}, {Name: "unicom", Interface: "pppoe-wan2"}}},
		{name: "IPv4-mapped bind address with --ip-family 6", args: []string{"--bind-address", "::ffff:192.0.2.1", "--ip-family", "6"}, wantErr: "bind address 192.0.2.1 is not an ipv6 address"},
		{name: "bad interface name", yaml: "lines:\n  - { name: unicom, interface: 'eth 1' }\n", wantErr: `line unicom: interface "eth 1"`},
		{name: "interface name too long", args: []string{"--interface", strings.Repeat("e", 16)}, wantErr: "at most 15 characters"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--url", "https://fn.example.com", "--site", "hz"}, tc.args...)
			if tc.yaml != "" {
				args = append(args, "--config", writeFile(t, dir, "l"+string(rune('a'+i))+".yaml", tc.yaml))
			}
			c, err := Parse(args, append([]string{"PPTER_KEY=k"}, tc.env...))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want usage error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Lines, tc.want) {
				t.Errorf("got lines %+v, want %+v", c.Lines, tc.want)
			}
		})
	}
}
