package aliyunemu

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// MinTTL is the smallest TTL a zone accepts unless it is on the enterprise edition.
const MinTTL = 600

// Record is a DNS record of an emulated zone.
type Record struct {
	ID     string
	Zone   string
	RR     string
	Type   string
	Value  string
	TTL    int64
	Line   string
	Status string
}

type zone struct {
	name       string
	enterprise bool
}

var dnsCommon = []string{"Lang", "UserClientIp"}

func init() {
	handlers["DescribeSubDomainRecords"] = handler{version: VersionDNS, fn: (*Server).describeSubDomainRecords,
		params: append([]string{"SubDomain", "DomainName", "Type", "Line", "PageNumber", "PageSize"}, dnsCommon...)}
	handlers["DescribeDomainRecords"] = handler{version: VersionDNS, fn: (*Server).describeDomainRecords,
		params: append([]string{"DomainName", "PageNumber", "PageSize", "RRKeyWord", "TypeKeyWord", "ValueKeyWord", "KeyWord", "Type", "Line", "OrderBy", "Direction", "SearchMode", "Status", "GroupId"}, dnsCommon...)}
	handlers["AddDomainRecord"] = handler{version: VersionDNS, mutating: true, fn: (*Server).addDomainRecord,
		params: append([]string{"DomainName", "RR", "Type", "Value", "TTL", "Line", "Priority"}, dnsCommon...)}
	handlers["UpdateDomainRecord"] = handler{version: VersionDNS, mutating: true, fn: (*Server).updateDomainRecord,
		params: append([]string{"RecordId", "RR", "Type", "Value", "TTL", "Line", "Priority"}, dnsCommon...)}
}

// AddZone creates a zone. On the enterprise edition TTLs down to 1 s are accepted.
func (s *Server) AddZone(name string, enterprise bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones[name] = &zone{name: name, enterprise: enterprise}
}

// PutRecord adds a record directly (no call counted) and returns its ID.
func (s *Server) PutRecord(zoneName, rr, typ, value string, ttl int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newRecordID()
	s.records[id] = &Record{ID: id, Zone: zoneName, RR: rr, Type: typ, Value: value, TTL: ttl, Line: "default", Status: "ENABLE"}
	return id
}

// EditRecord changes a record's value directly, as a person in the console would.
func (s *Server) EditRecord(id, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.records[id]; ok {
		r.Value = value
	}
}

// Records returns the zone's records sorted by RR, type and value.
func (s *Server) Records(zoneName string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.records {
		if r.Zone == zoneName {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.RR != b.RR {
			return a.RR < b.RR
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Value < b.Value
	})
	return out
}

func (s *Server) newRecordID() string {
	s.nextID++
	return strconv.Itoa(18000000 + s.nextID)
}

func (s *Server) zone(name string) (*zone, *APIError) {
	z, ok := s.zones[name]
	if !ok {
		return nil, errorf(400, "InvalidDomainName.NoExist", "The specified domain name does not exist. Refresh the page and try again.")
	}
	return z, nil
}

func fqdn(rr, zoneName string) string {
	if rr == "@" {
		return zoneName
	}
	return rr + "." + zoneName
}

func recordJSON(r *Record) map[string]any {
	return map[string]any{
		"RecordId": r.ID, "DomainName": r.Zone, "RR": r.RR, "Type": r.Type, "Value": r.Value,
		"TTL": r.TTL, "Line": r.Line, "Status": r.Status, "Locked": false, "Weight": 1,
	}
}

func (s *Server) records2(match func(*Record) bool) []*Record {
	var out []*Record
	for _, id := range sortedKeys(s.records) {
		if r := s.records[id]; match(r) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) describeSubDomainRecords(p params) (any, *APIError) {
	sub, e := p.required("SubDomain")
	if e != nil {
		return nil, e
	}
	zoneName := p.Get("DomainName")
	if zoneName == "" {
		for name := range s.zones {
			if (sub == name || strings.HasSuffix(sub, "."+name)) && len(name) > len(zoneName) {
				zoneName = name
			}
		}
	}
	if _, e := s.zone(zoneName); e != nil {
		return nil, e
	}
	recs := s.records2(func(r *Record) bool {
		return r.Zone == zoneName && fqdn(r.RR, r.Zone) == sub &&
			(p.Get("Type") == "" || r.Type == p.Get("Type")) && (p.Get("Line") == "" || r.Line == p.Get("Line"))
	})
	return pageRecords(p, recs, 20)
}

func pageRecords(p params, recs []*Record, def int64) (any, *APIError) {
	from, to, num, size, e := p.page(len(recs), def, 500)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, r := range recs[from:to] {
		list = append(list, recordJSON(r))
	}
	return map[string]any{"TotalCount": len(recs), "PageNumber": num, "PageSize": size,
		"DomainRecords": map[string]any{"Record": list}}, nil
}

func (s *Server) describeDomainRecords(p params) (any, *APIError) {
	zoneName, e := p.required("DomainName")
	if e != nil {
		return nil, e
	}
	if _, e := s.zone(zoneName); e != nil {
		return nil, e
	}
	recs := s.records2(func(r *Record) bool {
		return r.Zone == zoneName &&
			(p.Get("RRKeyWord") == "" || strings.Contains(r.RR, p.Get("RRKeyWord"))) &&
			(p.Get("TypeKeyWord") == "" || r.Type == p.Get("TypeKeyWord")) &&
			(p.Get("Type") == "" || r.Type == p.Get("Type"))
	})
	return pageRecords(p, recs, 20)
}

// checkRecord validates the fields shared by AddDomainRecord and UpdateDomainRecord.
func (s *Server) checkRecord(z *zone, p params) (rr, typ, value, line string, ttl int64, e *APIError) {
	if rr, e = p.required("RR"); e != nil {
		return
	}
	if typ, e = p.required("Type"); e != nil {
		return
	}
	if value, e = p.required("Value"); e != nil {
		return
	}
	if ttl, e = p.int("TTL", 600); e != nil {
		return
	}
	line = p.Get("Line")
	if line == "" {
		line = "default"
	}
	switch typ {
	case "A", "AAAA":
		a, err := netip.ParseAddr(value)
		if err != nil || (typ == "A") != a.Is4() {
			e = errorf(400, "InvalidRecordValue", "The DNS record value %q is invalid for type %s.", value, typ)
			return
		}
	case "CNAME", "TXT", "MX", "NS":
	default:
		e = errorf(400, "InvalidType", "The record type %s is not supported.", typ)
		return
	}
	min := int64(MinTTL)
	if z.enterprise {
		min = 1
	}
	if ttl < min || ttl > 86400 {
		e = errorf(400, "QuotaExceeded.TTL", "The TTL value %d is out of the range allowed by your DNS edition (minimum %d).", ttl, min)
	}
	return
}

func (s *Server) duplicate(zoneName, rr, typ, value, line, except string) bool {
	for _, r := range s.records {
		if r.ID != except && r.Zone == zoneName && r.RR == rr && r.Type == typ && r.Value == value && r.Line == line {
			return true
		}
	}
	return false
}

var errDuplicate = errorf(400, "DomainRecordDuplicate", "The DNS record already exists.")

func (s *Server) addDomainRecord(p params) (any, *APIError) {
	zoneName, e := p.required("DomainName")
	if e != nil {
		return nil, e
	}
	z, e := s.zone(zoneName)
	if e != nil {
		return nil, e
	}
	rr, typ, value, line, ttl, e := s.checkRecord(z, p)
	if e != nil {
		return nil, e
	}
	if s.duplicate(zoneName, rr, typ, value, line, "") {
		return nil, errDuplicate
	}
	id := s.newRecordID()
	s.records[id] = &Record{ID: id, Zone: zoneName, RR: rr, Type: typ, Value: value, TTL: ttl, Line: line, Status: "ENABLE"}
	return map[string]any{"RecordId": id}, nil
}

func (s *Server) updateDomainRecord(p params) (any, *APIError) {
	id, e := p.required("RecordId")
	if e != nil {
		return nil, e
	}
	r, ok := s.records[id]
	if !ok {
		return nil, errorf(400, "DomainRecordNotBelongToUser", "The DNS record does not exist or does not belong to your account.")
	}
	rr, typ, value, line, ttl, e := s.checkRecord(s.zones[r.Zone], p)
	if e != nil {
		return nil, e
	}
	if (r.RR == rr && r.Type == typ && r.Value == value && r.Line == line && r.TTL == ttl) ||
		s.duplicate(r.Zone, rr, typ, value, line, id) {
		return nil, errDuplicate
	}
	r.RR, r.Type, r.Value, r.Line, r.TTL = rr, typ, value, line, ttl
	return map[string]any{"RecordId": id}, nil
}
