package cloud

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	alidns "github.com/alibabacloud-go/alidns-20150109/v4/client"
	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"
)

// RecordInfo is one record of a zone, as the admin listing shows it.
type RecordInfo struct {
	RR, Type, Value, RecordID, Line string
	TTL                             int64
}

// ListZone returns every record of zone (all pages).
func ListZone(api DNSAPI, zone string) ([]RecordInfo, error) {
	recs, err := allPages(100, func(page int) ([]*alidns.DescribeDomainRecordsResponseBodyDomainRecordsRecord, int, error) {
		resp, err := api.DescribeDomainRecords(&alidns.DescribeDomainRecordsRequest{DomainName: tea.String(zone),
			PageNumber: tea.Int64(int64(page)), PageSize: tea.Int64(100)})
		if err != nil || resp.Body.DomainRecords == nil {
			return nil, 0, err
		}
		return resp.Body.DomainRecords.Record, int(tea.Int64Value(resp.Body.TotalCount)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("list zone %s: %w", zone, err)
	}
	var out []RecordInfo
	for _, r := range recs {
		out = append(out, RecordInfo{RR: tea.StringValue(r.RR), Type: tea.StringValue(r.Type), Value: tea.StringValue(r.Value),
			RecordID: tea.StringValue(r.RecordId), Line: tea.StringValue(r.Line), TTL: tea.Int64Value(r.TTL)})
	}
	return out, nil
}

// allPages calls fetch for pages 1, 2, … of size items until one comes back short or the
// total it reports is reached, and returns the items of every page.
func allPages[T any](size int, fetch func(page int) (items []T, total int, err error)) ([]T, error) {
	var out []T
	for page := 1; ; page++ {
		items, total, err := fetch(page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) < size || page*size >= total {
			return out, nil
		}
	}
}

// listCustomerGateways returns every customer gateway of the region through describe (the
// client's method, or the reconciler's retried one).
func listCustomerGateways(describe func(*vpc.DescribeCustomerGatewaysRequest) (*vpc.DescribeCustomerGatewaysResponse, error), region string) ([]*vpc.DescribeCustomerGatewaysResponseBodyCustomerGatewaysCustomerGateway, error) {
	return allPages(50, func(page int) ([]*vpc.DescribeCustomerGatewaysResponseBodyCustomerGatewaysCustomerGateway, int, error) {
		resp, err := describe(&vpc.DescribeCustomerGatewaysRequest{RegionId: tea.String(region), PageNumber: tea.Int32(int32(page)), PageSize: tea.Int32(50)})
		if err != nil || resp.Body.CustomerGateways == nil {
			return nil, 0, err
		}
		return resp.Body.CustomerGateways.CustomerGateway, int(tea.Int32Value(resp.Body.TotalCount)), nil
	})
}

// listConnections returns every connection of VPN gateway gw through describe (the
// client's method, or the reconciler's retried one).
func listConnections(describe func(*vpc.DescribeVpnConnectionsRequest) (*vpc.DescribeVpnConnectionsResponse, error), region, gw string) ([]*vpc.DescribeVpnConnectionsResponseBodyVpnConnectionsVpnConnection, error) {
	return allPages(50, func(page int) ([]*vpc.DescribeVpnConnectionsResponseBodyVpnConnectionsVpnConnection, int, error) {
		resp, err := describe(&vpc.DescribeVpnConnectionsRequest{RegionId: tea.String(region), VpnGatewayId: tea.String(gw),
			PageNumber: tea.Int32(int32(page)), PageSize: tea.Int32(50)})
		if err != nil || resp.Body.VpnConnections == nil {
			return nil, 0, err
		}
		return resp.Body.VpnConnections.VpnConnection, int(tea.Int32Value(resp.Body.TotalCount)), nil
	})
}

// PrintZone writes records as an aligned table.
func PrintZone(w io.Writer, recs []RecordInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RR\tTYPE\tVALUE\tRECORD ID\tTTL\tLINE")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.RR, r.Type, r.Value, r.RecordID, r.TTL, r.Line)
	}
	return tw.Flush()
}

// ConnInfo is one IPsec connection of a gateway, as the admin listing shows it.
type ConnInfo struct {
	Name, ID, LocalSubnet, RemoteSubnet, Status string
	Kind                                        ConnKind
	// CustomerGatewayID/IP: single-tunnel only (a dual-tunnel connection's are per tunnel).
	CustomerGatewayID, CustomerGatewayIP string
	// Tunnels are what the office router configures: one for a single-tunnel connection,
	// master and slave for a dual-tunnel one.
	Tunnels []TunnelInfo
}

// TunnelInfo is one tunnel: its role, the gateway address it ends at, the customer gateway
// (office address) it starts from, and its state.
type TunnelInfo struct {
	Role, ID, GatewayIP, CustomerGatewayID, CustomerGatewayIP, State string
}

// CGWInfo is one customer gateway of the region.
type CGWInfo struct {
	ID, IP, Name, Description string
}

// Inventory is a gateway's connections and the region's customer gateways.
type Inventory struct {
	Gateway          string
	GatewayStatus    string
	InternetIP       string // master tunnels end here
	DisasterRecovery string // slave tunnels end here ("" on a single-tunnel gateway)
	Connections      []ConnInfo
	CustomerGateways []CGWInfo
}

// ListGateway returns the gateway's connections and the region's customer gateways.
func ListGateway(api VPCAPI, region, gateway string) (Inventory, error) {
	inv := Inventory{Gateway: gateway}
	gw, err := api.DescribeVpnGateway(&vpc.DescribeVpnGatewayRequest{RegionId: tea.String(region), VpnGatewayId: tea.String(gateway)})
	if err != nil {
		return inv, fmt.Errorf("list gateway %s: %w", gateway, err)
	}
	inv.GatewayStatus = tea.StringValue(gw.Body.Status)
	inv.InternetIP, inv.DisasterRecovery = tea.StringValue(gw.Body.InternetIp), tea.StringValue(gw.Body.DisasterRecoveryInternetIp)
	cgws, err := listCustomerGateways(api.DescribeCustomerGateways, region)
	if err != nil {
		return inv, fmt.Errorf("list customer gateways: %w", err)
	}
	ips := map[string]string{}
	for _, c := range cgws {
		id := tea.StringValue(c.CustomerGatewayId)
		ips[id] = tea.StringValue(c.IpAddress)
		inv.CustomerGateways = append(inv.CustomerGateways, CGWInfo{ID: id, IP: ips[id], Name: tea.StringValue(c.Name), Description: tea.StringValue(c.Description)})
	}
	conns, err := listConnections(api.DescribeVpnConnections, region, gateway)
	if err != nil {
		return inv, fmt.Errorf("list connections of %s: %w", gateway, err)
	}
	for _, c := range conns {
		ci := ConnInfo{Name: tea.StringValue(c.Name), ID: tea.StringValue(c.VpnConnectionId), Kind: KindSingle,
			LocalSubnet: tea.StringValue(c.LocalSubnet), RemoteSubnet: tea.StringValue(c.RemoteSubnet), Status: tea.StringValue(c.Status)}
		if c.TunnelOptionsSpecification != nil && len(c.TunnelOptionsSpecification.TunnelOptions) > 0 {
			ci.Kind = KindDual
			for _, t := range c.TunnelOptionsSpecification.TunnelOptions {
				cg := tea.StringValue(t.CustomerGatewayId)
				ci.Tunnels = append(ci.Tunnels, TunnelInfo{Role: tea.StringValue(t.Role), ID: tea.StringValue(t.TunnelId),
					GatewayIP: tea.StringValue(t.InternetIp), CustomerGatewayID: cg, CustomerGatewayIP: ips[cg],
					State: tea.StringValue(t.State) + "/" + tea.StringValue(t.Status)})
			}
		} else {
			ci.CustomerGatewayID = tea.StringValue(c.CustomerGatewayId)
			ci.CustomerGatewayIP = ips[ci.CustomerGatewayID]
			ci.Tunnels = []TunnelInfo{{Role: "-", GatewayIP: inv.InternetIP, CustomerGatewayID: ci.CustomerGatewayID,
				CustomerGatewayIP: ci.CustomerGatewayIP, State: ci.Status}}
		}
		inv.Connections = append(inv.Connections, ci)
	}
	return inv, nil
}

// PrintGateway writes the inventory as aligned tables: connections, their tunnels (what the
// office router configures), customer gateways. Secrets (PSKs) are never shown.
func PrintGateway(w io.Writer, inv Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "VPN gateway %s (%s), public IP %s", inv.Gateway, inv.GatewayStatus, inv.InternetIP)
	if inv.DisasterRecovery != "" {
		fmt.Fprintf(tw, ", disaster-recovery IP %s (dual-tunnel)", inv.DisasterRecovery)
	}
	fmt.Fprint(tw, "\n\n")
	fmt.Fprintln(tw, "CONNECTION\tID\tKIND\tLOCAL SUBNET\tREMOTE SUBNET\tSTATUS")
	for _, c := range inv.Connections {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.ID, c.Kind, c.LocalSubnet, c.RemoteSubnet, c.Status)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CONNECTION\tTUNNEL\tROLE\tGATEWAY IP\tCUSTOMER GATEWAY\tOFFICE IP\tSTATE")
	used := map[string]int{}
	for _, c := range inv.Connections {
		seen := map[string]bool{}
		for _, t := range c.Tunnels {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, orDash(t.ID), t.Role, t.GatewayIP, t.CustomerGatewayID, t.CustomerGatewayIP, t.State)
			if !seen[t.CustomerGatewayID] {
				seen[t.CustomerGatewayID] = true
				used[t.CustomerGatewayID]++
			}
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CUSTOMER GATEWAY\tIP\tNAME\tUSED BY")
	for _, g := range inv.CustomerGateways {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.ID, g.IP, g.Name, strconv.Itoa(used[g.ID])+" connection(s) here")
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
