package ipclass

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	tests := []struct {
		a    string
		want Class
	}{
		{"1.2.3.4", Public},
		{"114.114.114.114", Public},
		{"::ffff:1.2.3.4", Public},
		{"2400:3200::1", Public},
		{"2400:3200::1%eth0", Public},
		{"10.0.0.1", Private},
		{"172.16.5.4", Private},
		{"192.168.1.1", Private},
		{"fd00::1", Private},
		{"100.64.0.1", CGNAT},
		{"127.0.0.1", Loopback},
		{"::ffff:127.0.0.1", Loopback},
		{"::1", Loopback},
		{"169.254.169.254", LinkLocal},
		{"fe80::1", LinkLocal},
		{"0.0.0.0", Unspecified},
		{"::", Unspecified},
		{"0.1.2.3", Reserved},
		{"240.0.0.1", Reserved},
		{"255.255.255.255", Reserved},
		{"224.0.0.1", Multicast},
		{"ff02::1", Multicast},
		{"192.0.2.1", Documentation},
		{"198.51.100.2", Documentation},
		{"203.0.113.7", Documentation},
		{"2001:db8::1", Documentation},
		{"3fff::1", Documentation},
		{"192.0.0.8", SpecialPurpose},
		{"198.18.0.1", SpecialPurpose},
		{"2002:102:304::1", SpecialPurpose},
		{"2001::1", SpecialPurpose},
		{"64:ff9b::102:304", SpecialPurpose},
		{"5f00::1", SpecialPurpose},
	}
	for _, tt := range tests {
		if got := Of(netip.MustParseAddr(tt.a)); got != tt.want {
			t.Errorf("Of(%s): got %v, want %v", tt.a, got, tt.want)
		}
	}
	if got := Of(netip.Addr{}); got != Unspecified {
		t.Errorf("Of(zero): got %v, want unspecified", got)
	}
}
