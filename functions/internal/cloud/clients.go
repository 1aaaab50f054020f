// Package cloud brings Alibaba Cloud in line with each site's address: Alidns A/AAAA records
// and the VPN Gateway IPsec connection that tunnels to the site. It owns small interfaces
// over the official SDK clients (production passes the real client; tests pass the real
// client pointed at internal/aliyunemu), a resumable re-point sequence for VPN connections,
// per-target state and locks (Redis or memory), and listing helpers for the admin command.
package cloud

import (
	"errors"
	"fmt"
	"strings"
	"time"

	alidns "github.com/alibabacloud-go/alidns-20150109/v4/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"
)

// DNSAPI is the part of the Alidns client the reconciler uses.
type DNSAPI interface {
	DescribeSubDomainRecords(*alidns.DescribeSubDomainRecordsRequest) (*alidns.DescribeSubDomainRecordsResponse, error)
	DescribeDomainRecords(*alidns.DescribeDomainRecordsRequest) (*alidns.DescribeDomainRecordsResponse, error)
	AddDomainRecord(*alidns.AddDomainRecordRequest) (*alidns.AddDomainRecordResponse, error)
	UpdateDomainRecord(*alidns.UpdateDomainRecordRequest) (*alidns.UpdateDomainRecordResponse, error)
}

// VPCAPI is the part of the VPC client the reconciler uses.
type VPCAPI interface {
	DescribeVpnGateway(*vpc.DescribeVpnGatewayRequest) (*vpc.DescribeVpnGatewayResponse, error)
	DescribeVpnConnections(*vpc.DescribeVpnConnectionsRequest) (*vpc.DescribeVpnConnectionsResponse, error)
	DescribeVpnConnection(*vpc.DescribeVpnConnectionRequest) (*vpc.DescribeVpnConnectionResponse, error)
	CreateVpnConnection(*vpc.CreateVpnConnectionRequest) (*vpc.CreateVpnConnectionResponse, error)
	DeleteVpnConnection(*vpc.DeleteVpnConnectionRequest) (*vpc.DeleteVpnConnectionResponse, error)
	ModifyVpnConnectionAttribute(*vpc.ModifyVpnConnectionAttributeRequest) (*vpc.ModifyVpnConnectionAttributeResponse, error)
	DescribeCustomerGateways(*vpc.DescribeCustomerGatewaysRequest) (*vpc.DescribeCustomerGatewaysResponse, error)
	CreateCustomerGateway(*vpc.CreateCustomerGatewayRequest) (*vpc.CreateCustomerGatewayResponse, error)
	DeleteCustomerGateway(*vpc.DeleteCustomerGatewayRequest) (*vpc.DeleteCustomerGatewayResponse, error)
}

var (
	_ DNSAPI = (*alidns.Client)(nil)
	_ VPCAPI = (*vpc.Client)(nil)
)

// Fixed SDK timeouts. The SDK caches one HTTP client per timeout combination, so they never vary.
const (
	ConnectTimeout = 5 * time.Second  // SDK ConnectTimeout is in seconds
	ReadTimeout    = 15 * time.Second // SDK ReadTimeout is in milliseconds, for the whole request
)

// Credentials are an AccessKey pair, with a SecurityToken for STS (the function's role).
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// ClientConfig says how to reach the APIs. Endpoints and protocol are optional overrides
// (VPC-internal endpoints, or a local emulator as host:port with Protocol "HTTP").
type ClientConfig struct {
	Region      string
	DNSEndpoint string
	VPCEndpoint string
	Protocol    string // "HTTPS" (default) or "HTTP"
	Credentials Credentials
}

// ErrConfig reports an unusable client configuration.
var ErrConfig = errors.New("cloud: bad client configuration")

func (c ClientConfig) sdkConfig(endpoint string) (*openapiutil.Config, error) {
	if c.Region == "" {
		return nil, fmt.Errorf("%w: region is empty", ErrConfig)
	}
	if c.Credentials.AccessKeyID == "" || c.Credentials.AccessKeySecret == "" {
		return nil, fmt.Errorf("%w: no credentials", ErrConfig)
	}
	proto := strings.ToUpper(c.Protocol)
	switch proto {
	case "":
		proto = "HTTPS"
	case "HTTP", "HTTPS":
	default:
		return nil, fmt.Errorf("%w: protocol %q (want HTTP or HTTPS)", ErrConfig, c.Protocol)
	}
	cfg := &openapiutil.Config{
		AccessKeyId:     tea.String(c.Credentials.AccessKeyID),
		AccessKeySecret: tea.String(c.Credentials.AccessKeySecret),
		RegionId:        tea.String(c.Region),
		Protocol:        tea.String(proto),
		ConnectTimeout:  tea.Int(int(ConnectTimeout / time.Second)),
		ReadTimeout:     tea.Int(int(ReadTimeout / time.Millisecond)),
	}
	if c.Credentials.SecurityToken != "" {
		cfg.SecurityToken = tea.String(c.Credentials.SecurityToken)
	}
	if endpoint != "" {
		cfg.Endpoint = tea.String(endpoint)
	}
	return cfg, nil
}

// NewDNSClient builds the official Alidns client.
func NewDNSClient(c ClientConfig) (*alidns.Client, error) {
	cfg, err := c.sdkConfig(c.DNSEndpoint)
	if err != nil {
		return nil, err
	}
	return alidns.NewClient(cfg)
}

// NewVPCClient builds the official VPC client.
func NewVPCClient(c ClientConfig) (*vpc.Client, error) {
	cfg, err := c.sdkConfig(c.VPCEndpoint)
	if err != nil {
		return nil, err
	}
	return vpc.NewClient(cfg)
}
