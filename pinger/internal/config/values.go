package config

import (
	"fmt"
	"strings"

	"github.com/ppter/ppter/shared/wire"
)

// DriverName names a router driver. It implements pflag.Value; its error lists the valid names.
type DriverName string

// Driver names.
const (
	DriverExec       DriverName = "exec"
	DriverHTTP       DriverName = "http"
	DriverRouterOS   DriverName = "routeros"
	DriverStrongSwan DriverName = "strongswan"
	DriverWireGuard  DriverName = "wireguard"
	DriverOpenWrt    DriverName = "openwrt"
	DriverOPNsense   DriverName = "opnsense"
	DriverVyOS       DriverName = "vyos"
	DriverFortiGate  DriverName = "fortigate"
)

// Drivers lists the valid driver names.
var Drivers = []DriverName{DriverExec, DriverHTTP, DriverRouterOS, DriverStrongSwan, DriverWireGuard,
	DriverOpenWrt, DriverOPNsense, DriverVyOS, DriverFortiGate}

func (d *DriverName) String() string { return string(*d) }

// Set validates s.
func (d *DriverName) Set(s string) error {
	for _, v := range Drivers {
		if string(v) == s {
			*d = v
			return nil
		}
	}
	names := make([]string, len(Drivers))
	for i, v := range Drivers {
		names[i] = string(v)
	}
	return fmt.Errorf("unknown driver %q (valid: %s)", s, strings.Join(names, ", "))
}

// Type is the placeholder shown in --help.
func (d *DriverName) Type() string { return "name" }

// IPFamily selects which address families the pinger pings over.
type IPFamily string

// IP families.
const (
	Family4    IPFamily = "4"
	Family6    IPFamily = "6"
	FamilyBoth IPFamily = "both"
)

func (f *IPFamily) String() string { return string(*f) }

// Set validates s.
func (f *IPFamily) Set(s string) error {
	switch IPFamily(s) {
	case Family4, Family6, FamilyBoth:
		*f = IPFamily(s)
		return nil
	}
	return fmt.Errorf("unknown IP family %q (valid: 4, 6, both)", s)
}

// Type is the placeholder shown in --help.
func (f *IPFamily) Type() string { return "4|6|both" }

// Families returns the families to ping over.
func (f IPFamily) Families() []wire.Family {
	switch f {
	case Family6:
		return []wire.Family{wire.IPv6}
	case FamilyBoth:
		return []wire.Family{wire.IPv4, wire.IPv6}
	}
	return []wire.Family{wire.IPv4}
}

// LogFormat selects the log line format.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

func (l *LogFormat) String() string { return string(*l) }

// Set validates s.
func (l *LogFormat) Set(s string) error {
	switch LogFormat(s) {
	case LogText, LogJSON:
		*l = LogFormat(s)
		return nil
	}
	return fmt.Errorf("unknown log format %q (valid: text, json)", s)
}

// Type is the placeholder shown in --help.
func (l *LogFormat) Type() string { return "text|json" }
