package wire

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// answer is a ping answer as the function gave it before the wire carried typed values
// (functions/internal/api/testdata/golden/ping_peers).
const answer = `{"site":"hz","ip":"203.0.113.7","family":"ipv4","changed":true,"previous_ip":"","seen_at":"2026-11-28T10:00:02Z","fleet_version":3,"delta":false,"peers":[{"site":"bj","ipv4":"198.51.100.9","ipv6":"2001:db8::9","changed_at":"2026-11-28T10:00:01Z","seen_at":"2026-11-28T10:00:01Z","stale":false},{"site":"sh","ipv4":"","ipv6":"","stale":true}],"targets":[{"kind":"dns","name":"hz.example.com A","state":"applied","ip":"203.0.113.7"},{"kind":"vpn","name":"vco-hz","state":"error","ip":"","error":"the gateway is busy"}]}`

// TestAnswerRoundTrip: an answer of the string-typed wire decodes into the typed one and
// encodes back byte for byte, so old and new pingers and functions understand each other.
func TestAnswerRoundTrip(t *testing.T) {
	var pr PingResponse
	if err := json.Unmarshal([]byte(answer), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.IP != netip.MustParseAddr("203.0.113.7") || pr.Family != IPv4 || pr.PreviousIP.IsValid() ||
		pr.Peers[0].Addr(IPv6) != netip.MustParseAddr("2001:db8::9") || pr.Peers[1].Addr(IPv4).IsValid() ||
		pr.Targets[1].State != StateError || pr.Targets[0].Kind != KindDNS {
		t.Fatalf("decoded %+v", pr)
	}
	b, err := json.Marshal(pr)
	if err != nil || string(b) != answer {
		t.Fatalf("got %s (%v), want %s", b, err, answer)
	}
}

func TestFamily(t *testing.T) {
	tests := []struct {
		text string
		want Family
	}{{"ipv4", IPv4}, {"4", IPv4}, {"", IPv4}, {"ipv6", IPv6}, {"6", IPv6}}
	for _, tc := range tests {
		var f Family
		if err := f.UnmarshalText([]byte(tc.text)); err != nil || f != tc.want {
			t.Errorf("UnmarshalText(%q): got %v (%v), want %v", tc.text, f, err, tc.want)
		}
	}
	var f Family
	if err := f.UnmarshalText([]byte("ipv5")); err == nil || err.Error() != `family "ipv5": want ipv4 or ipv6` {
		t.Errorf("ipv5: got %v", err)
	}
	if Family(0).String() != "ipv4" || !Family(0).Is(IPv4) || Family(0).Is(IPv6) || IPv6.String() != "ipv6" {
		t.Error("the zero Family is not IPv4")
	}
	for a, want := range map[string]Family{"192.0.2.1": IPv4, "::ffff:192.0.2.1": IPv4, "2001:db8::1": IPv6} {
		if got := FamilyOf(netip.MustParseAddr(a)); got != want || !want.Of(netip.MustParseAddr(a)) {
			t.Errorf("FamilyOf(%s): got %v, want %v", a, got, want)
		}
	}
	if IPv4.Of(netip.Addr{}) || IPv6.Of(netip.Addr{}) || AddrString(netip.Addr{}) != "" {
		t.Error("the zero Addr has a family or a text")
	}
}
