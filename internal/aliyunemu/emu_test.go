package aliyunemu

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	alidns "github.com/alibabacloud-go/alidns-20150109/v4/client"
	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"
)

func config(s *Server, secret string) *openapiutil.Config {
	id, sec, tok := s.Credentials()
	if secret != "" {
		sec = secret
	}
	c := &openapiutil.Config{AccessKeyId: tea.String(id), AccessKeySecret: tea.String(sec),
		Endpoint: tea.String(s.Endpoint), Protocol: tea.String("HTTP"), RegionId: tea.String(s.Region()),
		ConnectTimeout: tea.Int(5), ReadTimeout: tea.Int(10000)}
	if tok != "" {
		c.SecurityToken = tea.String(tok)
	}
	return c
}

func clients(t *testing.T, s *Server) (*alidns.Client, *vpc.Client) {
	t.Helper()
	d, err := alidns.NewClient(config(s, ""))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vpc.NewClient(config(s, ""))
	if err != nil {
		t.Fatal(err)
	}
	return d, v
}

func code(err error) string {
	var e *tea.SDKError
	if errors.As(err, &e) {
		return tea.StringValue(e.Code)
	}
	if err != nil {
		return "non-SDK error: " + err.Error()
	}
	return ""
}

func wantCode(t *testing.T, what string, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("%s: got code %q (err %v), want %q", what, got, err, want)
	}
}

// TestOfficialVector checks the signature code against Alibaba Cloud's published ACS3 example.
func TestOfficialVector(t *testing.T) {
	q := url.Values{"ImageId": {"win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}, "RegionId": {"cn-shanghai"}}
	h := map[string][]string{
		"host":                  {"ecs.cn-shanghai.aliyuncs.com"},
		"x-acs-action":          {"RunInstances"},
		"x-acs-version":         {"2014-05-26"},
		"x-acs-date":            {"2023-10-26T10:22:32Z"},
		"x-acs-signature-nonce": {"3156853299f313e23d1673dc12e1703d"},
		"x-acs-content-sha256":  {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	signed := []string{"x-acs-version", "host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"}
	cr := CanonicalRequest("POST", "/", q, h, signed, h["x-acs-content-sha256"][0])
	if got, want := Sign("YourAccessKeySecret", cr), "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"; got != want {
		t.Fatalf("signature: got %s, want %s\ncanonical request:\n%s", got, want, cr)
	}
	a, err := ParseAuthorization("ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0")
	if err != nil || a.AccessKeyID != "YourAccessKeyId" || len(a.SignedHeaders) != 6 {
		t.Fatalf("ParseAuthorization: got %+v, %v", a, err)
	}
	if got, want := CanonicalQuery(url.Values{"b": {"a b*~"}, "a": {""}}), "a=&b=a%20b%2A~"; got != want {
		t.Fatalf("CanonicalQuery: got %q, want %q", got, want)
	}
}

func TestSignatureChecks(t *testing.T) {
	s := New(t, Options{SecurityToken: "sts-token"})
	s.AddZone("example.com", false)
	d, _ := clients(t, s)
	req := &alidns.DescribeDomainRecordsRequest{DomainName: tea.String("example.com")}
	if _, err := d.DescribeDomainRecords(req); err != nil {
		t.Fatalf("signed by the SDK: %v", err)
	}
	bad, _ := alidns.NewClient(config(s, "wrong-secret"))
	_, err := bad.DescribeDomainRecords(req)
	wantCode(t, "wrong secret", err, "SignatureDoesNotMatch")
	c := config(s, "")
	c.AccessKeyId = tea.String("LTAI-unknown")
	unknown, _ := alidns.NewClient(c)
	_, err = unknown.DescribeDomainRecords(req)
	wantCode(t, "unknown key", err, "InvalidAccessKeyId.NotFound")
	c = config(s, "")
	c.SecurityToken = nil
	noTok, _ := alidns.NewClient(c)
	_, err = noTok.DescribeDomainRecords(req)
	wantCode(t, "missing token", err, "InvalidSecurityToken.Mismatch")
	if got := len(s.TakeUnexpected()); got != 3 {
		t.Fatalf("unexpected requests recorded: got %d, want 3", got)
	}
	// A tampered request (parameter changed after signing) is refused too.
	r, _ := http.NewRequest("POST", s.URL+"/?DomainName=evil.com", nil)
	r.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential="+DefaultAccessKeyID+",SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=00")
	for k, v := range map[string]string{"x-acs-action": "DescribeDomainRecords", "x-acs-version": VersionDNS, "x-acs-date": "2026-11-28T10:00:00Z",
		"x-acs-signature-nonce": "n1", "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"} {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || len(s.TakeUnexpected()) != 1 {
		t.Fatalf("tampered request: got status %d", resp.StatusCode)
	}
	if s.TotalCalls() != 1 {
		t.Fatalf("refused requests must not count as calls: got %d", s.TotalCalls())
	}
}

func TestUnknownActionAndParameterRecorded(t *testing.T) {
	s := New(t, Options{})
	_, v := clients(t, s)
	_, err := v.DescribeVpcs(&vpc.DescribeVpcsRequest{RegionId: tea.String(s.Region())})
	wantCode(t, "unknown action", err, "InvalidAction.NotFound")
	// ModifyCustomerGatewayAttribute has no IpAddress: the address of a customer gateway is immutable.
	cgw := s.PutCustomerGateway("203.0.113.7", "hz")
	oc, _ := openapi.NewClient(config(s, ""))
	_, err = oc.CallApi(&openapiutil.Params{Action: tea.String("ModifyCustomerGatewayAttribute"), Version: tea.String(VersionVPC),
		Protocol: tea.String("HTTP"), Pathname: tea.String("/"), Method: tea.String("POST"), AuthType: tea.String("AK"),
		Style: tea.String("RPC"), ReqBodyType: tea.String("formData"), BodyType: tea.String("json")},
		&openapiutil.OpenApiRequest{Query: map[string]*string{"RegionId": tea.String(s.Region()), "CustomerGatewayId": tea.String(cgw), "IpAddress": tea.String("203.0.113.8")}},
		&dara.RuntimeOptions{})
	wantCode(t, "IpAddress on modify", err, "InvalidParameter")
	u := s.TakeUnexpected()
	if len(u) != 2 || !strings.Contains(u[0], "DescribeVpcs") || !strings.Contains(u[1], "IpAddress") {
		t.Fatalf("unexpected: got %q", u)
	}
	if got := s.CustomerGateways()[0].IP; got != "203.0.113.7" {
		t.Fatalf("customer gateway IP changed to %s", got)
	}
}

func TestDNSRules(t *testing.T) {
	s := New(t, Options{})
	s.AddZone("example.com", false)
	s.AddZone("ent.example.net", true)
	d, _ := clients(t, s)
	add := func(zone, rr, typ, val string, ttl int64) (string, error) {
		r, err := d.AddDomainRecord(&alidns.AddDomainRecordRequest{DomainName: tea.String(zone), RR: tea.String(rr),
			Type: tea.String(typ), Value: tea.String(val), TTL: tea.Int64(ttl)})
		if err != nil {
			return "", err
		}
		return tea.StringValue(r.Body.RecordId), nil
	}
	id, err := add("example.com", "hz.vpn", "A", "203.0.113.7", 600)
	if err != nil {
		t.Fatal(err)
	}
	_, err = add("example.com", "hz.vpn", "A", "203.0.113.7", 600)
	wantCode(t, "duplicate add", err, "DomainRecordDuplicate")
	_, err = add("example.com", "x", "A", "203.0.113.7", 599)
	wantCode(t, "TTL 599", err, "QuotaExceeded.TTL")
	if _, err = add("ent.example.net", "x", "A", "203.0.113.7", 1); err != nil {
		t.Fatalf("enterprise zone TTL 1: %v", err)
	}
	_, err = add("example.com", "x", "A", "2001:db8::1", 600)
	wantCode(t, "AAAA value on A", err, "InvalidRecordValue")
	_, err = add("nope.com", "x", "A", "203.0.113.7", 600)
	wantCode(t, "unknown zone", err, "InvalidDomainName.NoExist")
	if _, err = add("example.com", "@", "AAAA", "2001:db8::7", 600); err != nil {
		t.Fatal(err)
	}

	upd := func(val string, ttl int64) error {
		_, err := d.UpdateDomainRecord(&alidns.UpdateDomainRecordRequest{RecordId: tea.String(id), RR: tea.String("hz.vpn"),
			Type: tea.String("A"), Value: tea.String(val), TTL: tea.Int64(ttl)})
		return err
	}
	wantCode(t, "update to same value", upd("203.0.113.7", 600), "DomainRecordDuplicate")
	if err := upd("203.0.113.7", 1200); err != nil {
		t.Fatalf("TTL-only update: %v", err)
	}
	if err := upd("198.51.100.2", 1200); err != nil {
		t.Fatalf("value update: %v", err)
	}
	wantCode(t, "update TTL too small", upd("198.51.100.3", 60), "QuotaExceeded.TTL")
	_, err = d.UpdateDomainRecord(&alidns.UpdateDomainRecordRequest{RecordId: tea.String("1"), RR: tea.String("a"), Type: tea.String("A"), Value: tea.String("192.0.2.1")})
	wantCode(t, "unknown record", err, "DomainRecordNotBelongToUser")

	sub, err := d.DescribeSubDomainRecords(&alidns.DescribeSubDomainRecordsRequest{SubDomain: tea.String("hz.vpn.example.com"), DomainName: tea.String("example.com"), Type: tea.String("A")})
	if err != nil {
		t.Fatal(err)
	}
	recs := sub.Body.DomainRecords.Record
	if len(recs) != 1 || tea.StringValue(recs[0].Value) != "198.51.100.2" || tea.Int64Value(recs[0].TTL) != 1200 || tea.StringValue(recs[0].RecordId) != id {
		t.Fatalf("DescribeSubDomainRecords: got %s", tea.Prettify(recs))
	}
	apex, err := d.DescribeSubDomainRecords(&alidns.DescribeSubDomainRecordsRequest{SubDomain: tea.String("example.com"), Type: tea.String("AAAA")})
	if err != nil || len(apex.Body.DomainRecords.Record) != 1 || tea.StringValue(apex.Body.DomainRecords.Record[0].RR) != "@" {
		t.Fatalf("apex lookup: got %v, %v", apex, err)
	}
	all, err := d.DescribeDomainRecords(&alidns.DescribeDomainRecordsRequest{DomainName: tea.String("example.com"), PageSize: tea.Int64(1)})
	if err != nil || tea.Int64Value(all.Body.TotalCount) != 2 || len(all.Body.DomainRecords.Record) != 1 {
		t.Fatalf("DescribeDomainRecords paging: got %v, %v", all, err)
	}
}

func TestCustomerGatewayRules(t *testing.T) {
	s := New(t, Options{})
	_, v := clients(t, s)
	for _, ip := range []string{"100.64.0.1", "100.127.255.254", "127.0.0.1", "169.254.1.1", "224.0.0.5", "239.1.1.1", "255.1.2.3", "2001:db8::1", "bogus"} {
		_, err := v.CreateCustomerGateway(&vpc.CreateCustomerGatewayRequest{RegionId: tea.String(s.Region()), IpAddress: tea.String(ip)})
		wantCode(t, "CreateCustomerGateway "+ip, err, "InvalidIpAddress")
	}
	r, err := v.CreateCustomerGateway(&vpc.CreateCustomerGatewayRequest{RegionId: tea.String(s.Region()), IpAddress: tea.String("100.128.0.1"), Name: tea.String("hz")})
	if err != nil {
		t.Fatal(err)
	}
	cgw := tea.StringValue(r.Body.CustomerGatewayId)
	_, err = v.CreateCustomerGateway(&vpc.CreateCustomerGatewayRequest{RegionId: tea.String(s.Region()), IpAddress: tea.String("100.128.0.1")})
	wantCode(t, "same IP twice", err, "InvalidIpAddress.AlreadyExist")
	_, err = v.CreateCustomerGateway(&vpc.CreateCustomerGatewayRequest{IpAddress: tea.String("192.0.2.9")})
	wantCode(t, "no RegionId", err, "MissingRegionId")
	s.AddVpnGateway("vpn-1", "47.0.0.1")
	s.PutConnection(Connection{Name: "to-hz", GatewayID: "vpn-1", CustomerGatewayID: cgw, LocalSubnet: "10.0.0.0/16", RemoteSubnet: "192.168.1.0/24"})
	_, err = v.DeleteCustomerGateway(&vpc.DeleteCustomerGatewayRequest{RegionId: tea.String(s.Region()), CustomerGatewayId: tea.String(cgw)})
	wantCode(t, "delete referenced", err, "DependencyViolation.VpnConnection")
	list, err := v.DescribeCustomerGateways(&vpc.DescribeCustomerGatewaysRequest{RegionId: tea.String(s.Region())})
	if err != nil || tea.Int32Value(list.Body.TotalCount) != 1 || tea.StringValue(list.Body.CustomerGateways.CustomerGateway[0].IpAddress) != "100.128.0.1" {
		t.Fatalf("DescribeCustomerGateways: got %v, %v", list, err)
	}
}

func TestVpnConnectionRules(t *testing.T) {
	clock := NewClock(time.Now())
	s := New(t, Options{Now: clock.Now, UpdatingFor: 90 * time.Second})
	s.AddVpnGateway("vpn-1", "47.0.0.1")
	cgw := s.PutCustomerGateway("203.0.113.7", "hz")
	cgw2 := s.PutCustomerGateway("203.0.113.8", "hz2")
	_, v := clients(t, s)
	region := tea.String(s.Region())
	create := &vpc.CreateVpnConnectionRequest{RegionId: region, VpnGatewayId: tea.String("vpn-1"), CustomerGatewayId: tea.String(cgw),
		Name: tea.String("to-hz"), LocalSubnet: tea.String("10.0.0.0/16"), RemoteSubnet: tea.String("192.168.1.0/24"),
		IkeConfig:         tea.String(`{"IkeVersion":"ikev2","IkeLifetime":3600,"Psk":"s3cret"}`),
		IpsecConfig:       tea.String(`{"IpsecPfs":"group14","IpsecLifetime":1800}`),
		HealthCheckConfig: tea.String(`{"enable":true,"dip":"192.168.1.1","sip":"10.0.0.1","interval":3,"retry":3}`),
		EnableDpd:         tea.Bool(false)}
	bad := *create
	bad.IkeConfig = tea.String(`{"IkeLifetime":"3600"}`)
	_, err := v.CreateVpnConnection(&bad)
	wantCode(t, "IkeLifetime as a string", err, "InvalidParameter")
	bad = *create
	bad.HealthCheckConfig = tea.String(`{"Enable":true,"Dip":"192.168.1.1"}`)
	_, err = v.CreateVpnConnection(&bad)
	wantCode(t, "health-check keys as read", err, "InvalidParameter")

	r, err := v.CreateVpnConnection(create)
	if err != nil {
		t.Fatal(err)
	}
	id := r.Body.VpnConnectionId
	gw, err := v.DescribeVpnGateway(&vpc.DescribeVpnGatewayRequest{RegionId: region, VpnGatewayId: tea.String("vpn-1")})
	if err != nil || tea.StringValue(gw.Body.Status) != StatusUpdating {
		t.Fatalf("gateway after create: got %v, %v", gw, err)
	}
	_, err = v.DeleteVpnConnection(&vpc.DeleteVpnConnectionRequest{RegionId: region, VpnConnectionId: id})
	wantCode(t, "delete while updating", err, "VpnGateway.Configuring")
	clock.Advance(89 * time.Second)
	_, err = v.ModifyVpnConnectionAttribute(&vpc.ModifyVpnConnectionAttributeRequest{RegionId: region, VpnConnectionId: id, Name: tea.String("x")})
	wantCode(t, "modify while updating", err, "VpnGateway.Configuring")
	clock.Advance(time.Second)
	if st := s.GatewayStatus("vpn-1"); st != StatusActive {
		t.Fatalf("gateway after 90s: got %s, want active", st)
	}
	_, err = v.ModifyVpnConnectionAttribute(&vpc.ModifyVpnConnectionAttributeRequest{RegionId: region, VpnConnectionId: id,
		TunnelOptionsSpecification: []*vpc.ModifyVpnConnectionAttributeRequestTunnelOptionsSpecification{{CustomerGatewayId: tea.String(cgw2)}}})
	wantCode(t, "modify customer gateway of a single-tunnel connection", err, "OperationUnsupported.TunnelOptions")

	d, err := v.DescribeVpnConnection(&vpc.DescribeVpnConnectionRequest{RegionId: region, VpnConnectionId: id})
	if err != nil {
		t.Fatal(err)
	}
	b := d.Body
	if tea.StringValue(b.IkeConfig.Psk) != "s3cret" || tea.Int64Value(b.IkeConfig.IkeLifetime) != 3600 ||
		tea.StringValue(b.IkeConfig.RemoteId) != "203.0.113.7" || tea.StringValue(b.IkeConfig.IkeMode) != "main" ||
		tea.StringValue(b.VcoHealthCheck.Dip) != "192.168.1.1" || tea.StringValue(b.VcoHealthCheck.Enable) != "true" ||
		tea.Int64Value(b.IpsecConfig.IpsecLifetime) != 1800 || tea.BoolValue(b.EnableDpd) || !tea.BoolValue(b.EnableNatTraversal) ||
		tea.StringValue(b.CustomerGatewayId) != cgw {
		t.Fatalf("DescribeVpnConnection: got %s", tea.Prettify(b))
	}
	list, err := v.DescribeVpnConnections(&vpc.DescribeVpnConnectionsRequest{RegionId: region, VpnGatewayId: tea.String("vpn-1")})
	if err != nil || len(list.Body.VpnConnections.VpnConnection) != 1 || tea.StringValue(list.Body.VpnConnections.VpnConnection[0].IkeConfig.Psk) != "s3cret" {
		t.Fatalf("DescribeVpnConnections: got %v, %v", list, err)
	}
	if _, err = v.DeleteVpnConnection(&vpc.DeleteVpnConnectionRequest{RegionId: region, VpnConnectionId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err = v.DeleteCustomerGateway(&vpc.DeleteCustomerGatewayRequest{RegionId: region, CustomerGatewayId: tea.String(cgw)}); err != nil {
		t.Fatalf("delete unreferenced customer gateway: %v", err)
	}
	// ClientToken makes creation idempotent.
	cc := &vpc.CreateCustomerGatewayRequest{RegionId: region, IpAddress: tea.String("198.51.100.1"), ClientToken: tea.String("tok-1")}
	a1, err1 := v.CreateCustomerGateway(cc)
	a2, err2 := v.CreateCustomerGateway(cc)
	if err1 != nil || err2 != nil || tea.StringValue(a1.Body.CustomerGatewayId) != tea.StringValue(a2.Body.CustomerGatewayId) {
		t.Fatalf("ClientToken: got %v/%v, %v/%v", a1, a2, err1, err2)
	}
}

func TestFaultsCountersAndHook(t *testing.T) {
	s := New(t, Options{})
	s.AddVpnGateway("vpn-1", "47.0.0.1")
	_, v := clients(t, s)
	req := &vpc.DescribeVpnGatewayRequest{RegionId: tea.String(s.Region()), VpnGatewayId: tea.String("vpn-1")}
	s.Throttle("DescribeVpnGateway", 1)
	s.ServerError("", 1)
	var seen []string
	s.SetAfterCall(func(seq int, action string) { seen = append(seen, action) })
	_, err := v.DescribeVpnGateway(req)
	wantCode(t, "throttled", err, "Throttling.User")
	_, err = v.DescribeVpnGateway(req)
	wantCode(t, "5xx", err, "ServiceUnavailable")
	var se *tea.SDKError
	if !errors.As(err, &se) || tea.IntValue(se.StatusCode) != 503 {
		t.Fatalf("5xx status: got %v", err)
	}
	if _, err = v.DescribeVpnGateway(req); err != nil {
		t.Fatal(err)
	}
	s.FailAfter(3)
	_, err = v.DescribeVpnGateway(req)
	wantCode(t, "after FailAfter", err, "ServiceUnavailable")
	if got := s.Calls("DescribeVpnGateway"); got != 4 || len(seen) != 4 || s.MutatingCalls() != 0 {
		t.Fatalf("counters: got %d calls, %d hooks, %d mutating", got, len(seen), s.MutatingCalls())
	}
	s.ResetCalls()
	if s.TotalCalls() != 0 {
		t.Fatal("ResetCalls")
	}
}

// TestDualTunnelRules drives dual-tunnel connections through the official SDK: the wire
// format both ways, per-tunnel customer gateways, the PSK the service invents, a tunnel
// spec that resets what it leaves out, the busy gateway and its overlap record.
func TestDualTunnelRules(t *testing.T) {
	clock := NewClock(time.Now())
	s := New(t, Options{Now: clock.Now, UpdatingFor: 60 * time.Second})
	s.AddDualTunnelVpnGateway("vpn-2", "47.0.0.1", "47.0.0.2")
	cgw := s.PutBgpCustomerGateway("203.0.113.7", "hz", 65010, "bgp-key")
	cgw2 := s.PutCustomerGateway("203.0.113.8", "hz2")
	_, v := clients(t, s)
	region := tea.String(s.Region())

	gw, err := v.DescribeVpnGateway(&vpc.DescribeVpnGatewayRequest{RegionId: region, VpnGatewayId: tea.String("vpn-2")})
	if err != nil || tea.StringValue(gw.Body.DisasterRecoveryInternetIp) != "47.0.0.2" {
		t.Fatalf("DescribeVpnGateway: got %v, %v", gw, err)
	}
	cg, err := v.DescribeCustomerGateways(&vpc.DescribeCustomerGatewaysRequest{RegionId: region, CustomerGatewayId: tea.String(cgw)})
	if err != nil || tea.Int64Value(cg.Body.CustomerGateways.CustomerGateway[0].Asn) != 65010 || tea.StringValue(cg.Body.CustomerGateways.CustomerGateway[0].AuthKey) != "bgp-key" {
		t.Fatalf("DescribeCustomerGateways: got %v, %v", cg, err)
	}
	single := &vpc.CreateVpnConnectionRequest{RegionId: region, VpnGatewayId: tea.String("vpn-2"), CustomerGatewayId: tea.String(cgw),
		LocalSubnet: tea.String("10.0.0.0/16"), RemoteSubnet: tea.String("192.168.1.0/24")}
	_, err = v.CreateVpnConnection(single)
	wantCode(t, "single-tunnel create on a dual-tunnel gateway", err, "InvalidParameter.TunnelOptionsSpecification")

	create := &vpc.CreateVpnConnectionRequest{RegionId: region, VpnGatewayId: tea.String("vpn-2"), Name: tea.String("to-hz"),
		LocalSubnet: tea.String("10.0.0.0/16"), RemoteSubnet: tea.String("192.168.1.0/24"), EnableTunnelsBgp: tea.Bool(true),
		TunnelOptionsSpecification: []*vpc.CreateVpnConnectionRequestTunnelOptionsSpecification{
			{Role: tea.String("master"), CustomerGatewayId: tea.String(cgw), EnableDpd: tea.Bool(false),
				TunnelIkeConfig:   &vpc.CreateVpnConnectionRequestTunnelOptionsSpecificationTunnelIkeConfig{Psk: tea.String("m-key"), IkeLifetime: tea.Int64(3600)},
				TunnelIpsecConfig: &vpc.CreateVpnConnectionRequestTunnelOptionsSpecificationTunnelIpsecConfig{IpsecPfs: tea.String("group14")},
				TunnelBgpConfig:   &vpc.CreateVpnConnectionRequestTunnelOptionsSpecificationTunnelBgpConfig{LocalAsn: tea.Int64(45104), TunnelCidr: tea.String("169.254.10.0/30")}},
			{Role: tea.String("slave"), CustomerGatewayId: tea.String(cgw)}, // no PSK: the service invents one
		}}
	r, err := v.CreateVpnConnection(create)
	if err != nil {
		t.Fatal(err)
	}
	id := r.Body.VpnConnectionId
	describe := func() *vpc.DescribeVpnConnectionResponseBody {
		t.Helper()
		d, err := v.DescribeVpnConnection(&vpc.DescribeVpnConnectionRequest{RegionId: region, VpnConnectionId: id})
		if err != nil {
			t.Fatal(err)
		}
		return d.Body
	}
	b := describe()
	to := b.TunnelOptionsSpecification.TunnelOptions
	if len(to) != 2 || tea.StringValue(b.CustomerGatewayId) != "" || !tea.BoolValue(b.EnableTunnelsBgp) {
		t.Fatalf("DescribeVpnConnection: got %s", tea.Prettify(b))
	}
	m, sl := to[0], to[1]
	if tea.StringValue(m.Role) != "master" || tea.StringValue(m.InternetIp) != "47.0.0.1" || tea.StringValue(m.TunnelIkeConfig.Psk) != "m-key" ||
		tea.StringValue(m.TunnelIkeConfig.IkeLifetime) != "3600" || tea.StringValue(m.EnableDpd) != "false" ||
		tea.StringValue(m.TunnelIkeConfig.RemoteId) != "203.0.113.7" || tea.StringValue(m.TunnelBgpConfig.LocalAsn) != "45104" ||
		tea.StringValue(m.TunnelIpsecConfig.IpsecPfs) != "group14" || tea.StringValue(m.State) != "updating" {
		t.Fatalf("master tunnel: got %s", tea.Prettify(m))
	}
	if tea.StringValue(sl.Role) != "slave" || tea.StringValue(sl.InternetIp) != "47.0.0.2" || tea.StringValue(sl.TunnelIkeConfig.Psk) == "" ||
		tea.StringValue(sl.TunnelIkeConfig.LocalId) != "47.0.0.2" || tea.StringValue(sl.CustomerGatewayId) != cgw {
		t.Fatalf("slave tunnel: got %s", tea.Prettify(sl))
	}

	// A write while the gateway applies the last one is refused and recorded as an overlap.
	mod := &vpc.ModifyVpnConnectionAttributeRequest{RegionId: region, VpnConnectionId: id,
		TunnelOptionsSpecification: []*vpc.ModifyVpnConnectionAttributeRequestTunnelOptionsSpecification{
			{TunnelId: m.TunnelId, CustomerGatewayId: tea.String(cgw2)}}}
	_, err = v.ModifyVpnConnectionAttribute(mod)
	wantCode(t, "modify while updating", err, "VpnGateway.Configuring")
	if o := s.Overlaps("vpn-2"); len(o) != 1 || o[0].Action != "ModifyVpnConnectionAttribute" || o[0].Overlap != "CreateVpnConnection" {
		t.Fatalf("overlaps: got %+v", o)
	}
	clock.Advance(60 * time.Second)
	// Modifying a tunnel's customer gateway with nothing else resets its other settings.
	if _, err = v.ModifyVpnConnectionAttribute(mod); err != nil {
		t.Fatal(err)
	}
	if m2 := describe().TunnelOptionsSpecification.TunnelOptions[0]; tea.StringValue(m2.CustomerGatewayId) != cgw2 ||
		tea.StringValue(m2.TunnelIkeConfig.Psk) == "m-key" || tea.StringValue(m2.EnableDpd) != "true" || tea.StringValue(m2.TunnelIkeConfig.RemoteId) != "203.0.113.8" {
		t.Fatalf("after a bare modify: got %s", tea.Prettify(m2))
	}
	_, err = v.DeleteCustomerGateway(&vpc.DeleteCustomerGatewayRequest{RegionId: region, CustomerGatewayId: tea.String(cgw)})
	wantCode(t, "delete a customer gateway used by the slave tunnel", err, "DependencyViolation.VpnConnection")
	list, err := v.DescribeVpnConnections(&vpc.DescribeVpnConnectionsRequest{RegionId: region, CustomerGatewayId: tea.String(cgw)})
	if err != nil || tea.Int32Value(list.Body.TotalCount) != 1 {
		t.Fatalf("DescribeVpnConnections by the slave's customer gateway: got %v, %v", list, err)
	}
	clock.Advance(60 * time.Second)
	_, err = v.ModifyTunnelAttribute(&vpc.ModifyTunnelAttributeRequest{RegionId: region, VpnConnectionId: id, TunnelId: sl.TunnelId,
		TunnelOptionsSpecification: &vpc.ModifyTunnelAttributeRequestTunnelOptionsSpecification{CustomerGatewayId: tea.String(cgw2),
			TunnelIkeConfig: &vpc.ModifyTunnelAttributeRequestTunnelOptionsSpecificationTunnelIkeConfig{Psk: sl.TunnelIkeConfig.Psk, RemoteId: tea.String("office.example.com")}}})
	if err != nil {
		t.Fatal(err)
	}
	if s2 := describe().TunnelOptionsSpecification.TunnelOptions[1]; tea.StringValue(s2.CustomerGatewayId) != cgw2 ||
		tea.StringValue(s2.TunnelIkeConfig.Psk) != tea.StringValue(sl.TunnelIkeConfig.Psk) || tea.StringValue(s2.TunnelIkeConfig.RemoteId) != "office.example.com" {
		t.Fatalf("after ModifyTunnelAttribute: got %s", tea.Prettify(s2))
	}
	clock.Advance(60 * time.Second)
	if _, err = v.DeleteCustomerGateway(&vpc.DeleteCustomerGatewayRequest{RegionId: region, CustomerGatewayId: tea.String(cgw)}); err != nil {
		t.Fatalf("delete the unreferenced customer gateway: %v", err)
	}
	if w := s.Writes("vpn-2"); len(w) != 4 {
		t.Fatalf("writes: got %+v", w)
	}
	// ModifyTunnelAttribute is a write too: refused while the gateway applies the last one.
	mta := &vpc.ModifyTunnelAttributeRequest{RegionId: region, VpnConnectionId: id, TunnelId: sl.TunnelId,
		TunnelOptionsSpecification: &vpc.ModifyTunnelAttributeRequestTunnelOptionsSpecification{CustomerGatewayId: tea.String(cgw2)}}
	if _, err = v.ModifyTunnelAttribute(mta); err != nil {
		t.Fatal(err)
	}
	_, err = v.ModifyTunnelAttribute(mta)
	wantCode(t, "ModifyTunnelAttribute while updating", err, "VpnGateway.Configuring")
	// A single-tunnel gateway refuses tunnel options.
	s.AddVpnGateway("vpn-1", "47.0.0.9")
	withTunnels := *create
	withTunnels.VpnGatewayId = tea.String("vpn-1")
	_, err = v.CreateVpnConnection(&withTunnels)
	wantCode(t, "tunnel options on a single-tunnel gateway", err, "OperationUnsupported.TunnelOptions")
	if u := s.Unexpected(); len(u) > 0 {
		t.Fatalf("unexpected: %v", u)
	}
}
