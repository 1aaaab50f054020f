// Package ipclass sorts IP addresses into the classes that decide whether an office line
// may have one (IANA's IPv4 and IPv6 special-purpose registries, and the ranges Alibaba
// Cloud refuses as a customer gateway address). The function trusts only a Public myip
// (dyndns); the pinger points tunnels at Public and Documentation peers, and at Private,
// CGNAT and SpecialPurpose ones only when told to (agent).
package ipclass

import "net/netip"

// Class is the kind of an address.
type Class uint8

// Classes, from the ones an office line may have to the ones nothing is ever pointed at.
const (
	Public         Class = iota // global unicast outside every range below
	Documentation               // 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20: routed nowhere
	Private                     // RFC 1918, fc00::/7
	CGNAT                       // 100.64.0.0/10
	SpecialPurpose              // protocol assignments, benchmarking, NAT64, discard, Teredo, 6to4, SRv6
	Reserved                    // this network (0.0.0.0/8), class E and broadcast (240.0.0.0/4)
	Unspecified                 // 0.0.0.0, ::, and the zero Addr
	Loopback
	LinkLocal // 169.254.0.0/16 (with the cloud metadata address), fe80::/10
	Multicast
)

var names = [...]string{"public", "documentation", "private", "shared CGNAT space", "special-purpose",
	"reserved (this network, class E or broadcast)", "unspecified", "loopback", "link-local", "multicast"}

// String names the class as refusals do: "private", "shared CGNAT space"…
func (c Class) String() string { return names[c] }

type span struct {
	prefix netip.Prefix
	class  Class
}

func spans(c Class, prefixes ...string) []span {
	out := make([]span, len(prefixes))
	for i, p := range prefixes {
		out[i] = span{netip.MustParsePrefix(p), c}
	}
	return out
}

var ranges = append(append(append(append(
	spans(Reserved, "0.0.0.0/8", "240.0.0.0/4"),
	spans(CGNAT, "100.64.0.0/10")...),
	spans(SpecialPurpose, "192.0.0.0/24", "198.18.0.0/15", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2002::/16", "5f00::/16")...),
	spans(Documentation, "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")...),
	spans(Private, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")...)

// Of returns the class of a, unmapped and without its zone.
func Of(a netip.Addr) Class {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return Unspecified
	case a.IsLoopback():
		return Loopback
	case a.IsLinkLocalUnicast():
		return LinkLocal
	case a.IsMulticast():
		return Multicast
	}
	for _, r := range ranges {
		if r.prefix.Contains(a) {
			return r.class
		}
	}
	return Public
}
