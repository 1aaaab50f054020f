// Package aliyunemu is an in-process emulator of the Alibaba Cloud Alidns (2015-01-09) and
// VPC (2016-04-28) OpenAPIs, for tests that drive the real official SDK clients against it
// (Config.Endpoint = Server.Endpoint, Config.Protocol = "HTTP").
//
// It verifies the ACS3-HMAC-SHA256 signature of every request, refuses unknown actions and
// parameters (recording them, which fails the test), keeps state, and models the rules of
// the real APIs that ppter depends on: duplicate-value errors and the TTL minimum in Alidns;
// immutable customer-gateway addresses (with BGP Asn/AuthKey), single-tunnel connections whose
// customer gateway cannot be modified, dual-tunnel gateways (InternetIp and
// DisasterRecoveryInternetIp) whose connections have a master and a slave tunnel, each with
// its own customer gateway and settings (TunnelOptionsSpecification.N.* written,
// TunnelOptionsSpecification.TunnelOptions[] read, ModifyTunnelAttribute; a tunnel spec
// replaces the tunnel's options whole, so what it omits returns to defaults and a missing PSK
// is invented), a VPN gateway that stays "updating" for UpdatingFor after each write and
// refuses writes meanwhile (recorded per gateway, with overlaps: Writes, Overlaps), and
// customer gateways that cannot be deleted while any connection or tunnel uses them. Tests
// can inject throttling and 5xx answers, count calls per action, and run a hook after each
// call (fault injection). Time comes from an injectable clock; nothing sleeps.
package aliyunemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// API versions served.
const (
	VersionDNS = "2015-01-09"
	VersionVPC = "2016-04-28"
)

// Default credentials accepted by a Server when Options leaves them empty.
const (
	DefaultAccessKeyID     = "LTAI-emulator-key"
	DefaultAccessKeySecret = "emulator-secret"
	DefaultRegion          = "cn-hangzhou"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Region every VPC request must name in RegionId (default DefaultRegion).
	Region string
	// AccessKeyID/AccessKeySecret accepted (defaults DefaultAccessKeyID/DefaultAccessKeySecret).
	AccessKeyID, AccessKeySecret string
	// SecurityToken, when set, must accompany every request (x-acs-security-token).
	SecurityToken string
	// Now is the emulator's clock (default time.Now). Pass (*Clock).Now to control time.
	Now func() time.Time
	// UpdatingFor is how long a VPN gateway stays "updating" after each mutation.
	UpdatingFor time.Duration
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// Endpoint is host:port, for the SDK's Config.Endpoint.
	Endpoint string
	// URL is the base URL (http://host:port).
	URL string

	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	seq        int
	calls      map[string]int
	unexpected []string
	nonces     map[string]bool
	faults     []fault
	failAfter  int
	afterCall  func(seq int, action string)
	quirks     Quirks
	tokens     map[string]string // action + ClientToken -> created ID
	nextID     int

	zones    map[string]*zone
	records  map[string]*Record
	cgws     map[string]*CustomerGateway
	gateways map[string]*Gateway
	conns    map[string]*Connection
	writes   map[string][]Write // per VPN gateway
}

type fault struct {
	action string
	left   int
	status int
	code   string
}

// APIError is an error answer of the emulated API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// New starts an emulator that closes when the test ends. When the test ends with unexpected
// requests recorded (unknown action or parameter, bad signature) and not taken with
// TakeUnexpected, the test fails.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.AccessKeyID == "" {
		o.AccessKeyID = DefaultAccessKeyID
	}
	if o.AccessKeySecret == "" {
		o.AccessKeySecret = DefaultAccessKeySecret
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		opts:     o,
		calls:    map[string]int{},
		nonces:   map[string]bool{},
		tokens:   map[string]string{},
		zones:    map[string]*zone{},
		records:  map[string]*Record{},
		cgws:     map[string]*CustomerGateway{},
		gateways: map[string]*Gateway{},
		conns:    map[string]*Connection{},
		writes:   map[string][]Write{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	s.Endpoint = strings.TrimPrefix(s.srv.URL, "http://")
	t.Cleanup(func() {
		s.srv.Close()
		if u := s.Unexpected(); len(u) > 0 {
			t.Errorf("aliyunemu: unexpected requests:\n  %s", strings.Join(u, "\n  "))
		}
	})
	return s
}

// Region is the region the emulator serves.
func (s *Server) Region() string { return s.opts.Region }

// Credentials returns the access key pair (and token) the emulator accepts.
func (s *Server) Credentials() (id, secret, token string) {
	return s.opts.AccessKeyID, s.opts.AccessKeySecret, s.opts.SecurityToken
}

// Calls returns how many requests for action passed authentication (including those that
// answered an error).
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// TotalCalls returns the number of authenticated requests of any action.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// MutatingCalls returns the number of authenticated requests of mutating actions.
func (s *Server) MutatingCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for a, c := range s.calls {
		if h, ok := handlers[a]; ok && h.mutating {
			n += c
		}
	}
	return n
}

// CallLog returns the calls per action, for test failure messages.
func (s *Server) CallLog() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		m[k] = v
	}
	return m
}

// ResetCalls zeroes the call counters (not the sequence seen by AfterCall hooks).
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.seq = 0
}

// Unexpected returns the requests the emulator refused as unknown or unauthenticated.
func (s *Server) Unexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unexpected...)
}

// TakeUnexpected returns and clears the unexpected requests (for tests that send them on purpose).
func (s *Server) TakeUnexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unexpected
	s.unexpected = nil
	return u
}

// InjectError makes the next times calls of action ("" for any action) answer status/code
// without effect.
func (s *Server) InjectError(action string, times, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{action: action, left: times, status: status, code: code})
}

// ClearFaults drops every injected error not yet consumed.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Throttle makes the next times calls of action ("" for any) answer 400 Throttling.User.
func (s *Server) Throttle(action string, times int) {
	s.InjectError(action, times, http.StatusBadRequest, "Throttling.User")
}

// ServerError makes the next times calls of action ("" for any) answer 503 ServiceUnavailable.
func (s *Server) ServerError(action string, times int) {
	s.InjectError(action, times, http.StatusServiceUnavailable, "ServiceUnavailable")
}

// FailAfter makes every call after the nth (counted from the last ResetCalls) answer 503
// without effect; n <= 0 turns it off.
func (s *Server) FailAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter = n
}

// SetAfterCall installs fn, run after each authenticated call has taken effect and before
// its answer is written, with the call's sequence number (1-based since the last
// ResetCalls) and action. Fault-injection tests cancel the caller's context there.
func (s *Server) SetAfterCall(fn func(seq int, action string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterCall = fn
}

// Quirks are behaviours of a live account a test may switch on.
type Quirks struct {
	// HidePSKs: Describe* answers every pre-shared key empty (a read that omits secrets).
	HidePSKs bool
	// TopLevelCGWFilter: DescribeVpnConnections' CustomerGatewayId filter matches only the
	// connection's own customer gateway (empty on a dual-tunnel one), not its tunnels'.
	TopLevelCGWFilter bool
}

// SetQuirks switches the quirks q on (and the others off).
func (s *Server) SetQuirks(q Quirks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quirks = q
}

type handler struct {
	version  string
	mutating bool
	params   []string // allowed parameter names; "X.N.Y" matches X.1.Y, X.2.Y…
	fn       func(s *Server, p params) (any, *APIError)
}

// handlers is filled by dns.go and vpc.go.
var handlers = map[string]handler{}

var digitsSeg = regexp.MustCompile(`\.\d+(\.|$)`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, errorf(400, "InvalidParameter", "unreadable body"))
		return
	}
	action := r.Header.Get("x-acs-action")
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.refuse(w, fmt.Sprintf("%s %s (action %q): only POST / is served", r.Method, r.URL.Path, action), errorf(404, "InvalidAction.NotFound", "unsupported path"))
		return
	}
	if _, err := Verify(r, body, s.secretFor); err != nil {
		if err == errUnknownKey {
			s.refuse(w, action+": "+err.Error(), errorf(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."))
			return
		}
		s.refuse(w, action+": "+err.Error(), errorf(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation: %v", err))
		return
	}
	if tok := s.opts.SecurityToken; tok != "" && r.Header.Get("x-acs-security-token") != tok {
		s.refuse(w, action+": security token missing or wrong", errorf(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken mismatch."))
		return
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	s.mu.Lock()
	used := s.nonces[nonce]
	s.nonces[nonce] = true
	s.mu.Unlock()
	if used {
		s.refuse(w, action+": nonce reused", errorf(400, "SignatureNonceUsed", "Specified signature nonce was used already."))
		return
	}
	h, ok := handlers[action]
	if !ok {
		s.refuse(w, "unknown action "+action, errorf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	if v := r.Header.Get("x-acs-version"); v != h.version {
		s.refuse(w, fmt.Sprintf("%s: version %q", action, v), errorf(400, "InvalidVersion", "Specified parameter Version is not valid."))
		return
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	if len(body) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f, _ := url.ParseQuery(string(body))
		for k, v := range f {
			q[k] = v
		}
	}
	allowed := map[string]bool{}
	for _, a := range h.params {
		allowed[a] = true
	}
	for k := range q {
		if !allowed[digitsSeg.ReplaceAllString(k, ".N$1")] {
			s.refuse(w, fmt.Sprintf("%s: unknown parameter %s", action, k), errorf(400, "InvalidParameter", "The parameter %s is not valid for %s.", k, action))
			return
		}
	}

	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.calls[action]++
	var res any
	var apiErr *APIError
	if s.failAfter > 0 && seq > s.failAfter {
		apiErr = errorf(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
	} else if f := s.takeFault(action); f != nil {
		apiErr = f
	} else if h.version == VersionVPC && q.Get("RegionId") == "" {
		apiErr = errorf(400, "MissingRegionId", "RegionId is mandatory for this action.")
	} else if h.version == VersionVPC && q.Get("RegionId") != s.opts.Region {
		apiErr = errorf(400, "InvalidRegionId.NotFound", "The specified region %s does not exist.", q.Get("RegionId"))
	} else {
		res, apiErr = h.fn(s, params{q})
	}
	hook := s.afterCall
	s.mu.Unlock()
	if hook != nil {
		hook(seq, action)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, 200, res)
}

func (s *Server) takeFault(action string) *APIError {
	for i := range s.faults {
		f := &s.faults[i]
		if f.left > 0 && (f.action == "" || f.action == action) {
			f.left--
			return errorf(f.status, f.code, "injected %s", f.code)
		}
	}
	return nil
}

func (s *Server) secretFor(id string) (string, bool) {
	return s.opts.AccessKeySecret, id == s.opts.AccessKeyID
}

func (s *Server) refuse(w http.ResponseWriter, what string, e *APIError) {
	s.mu.Lock()
	s.unexpected = append(s.unexpected, what)
	s.mu.Unlock()
	writeError(w, e)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeError(w http.ResponseWriter, e *APIError) {
	writeJSON(w, e.Status, map[string]any{
		"RequestId": requestID(),
		"HostId":    "emulator.aliyuncs.com",
		"Code":      e.Code,
		"Message":   e.Message,
		"Recommend": "https://api.aliyun.com/troubleshoot?q=" + e.Code,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if m, ok := v.(map[string]any); ok {
		if _, has := m["RequestId"]; !has {
			m["RequestId"] = requestID()
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"Code":"InternalError","Message":"emulator: `+strconv.Quote(err.Error())+`"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// params wraps the request's parameters.
type params struct{ url.Values }

func (p params) has(k string) bool { _, ok := p.Values[k]; return ok }

func (p params) required(k string) (string, *APIError) {
	v := p.Get(k)
	if v == "" {
		return "", errorf(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", k)
	}
	return v, nil
}

func (p params) int(k string, def int64) (int64, *APIError) {
	if !p.has(k) {
		return def, nil
	}
	n, err := strconv.ParseInt(p.Get(k), 10, 64)
	if err != nil {
		return 0, errorf(400, "InvalidParameter", "The parameter %s must be an integer.", k)
	}
	return n, nil
}

func (p params) bool(k string, def bool) (bool, *APIError) {
	if !p.has(k) {
		return def, nil
	}
	switch p.Get(k) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errorf(400, "InvalidParameter", "The parameter %s must be true or false.", k)
}

// page returns the slice bounds of a page, validating PageNumber/PageSize.
func (p params) page(total int, defSize, maxSize int64) (from, to int, num, size int64, e *APIError) {
	if num, e = p.int("PageNumber", 1); e != nil {
		return
	}
	if size, e = p.int("PageSize", defSize); e != nil {
		return
	}
	if num < 1 || size < 1 || size > maxSize {
		e = errorf(400, "InvalidParameter", "PageNumber/PageSize out of range (PageSize 1..%d).", maxSize)
		return
	}
	from = int((num - 1) * size)
	if from > total {
		from = total
	}
	to = from + int(size)
	if to > total {
		to = total
	}
	return
}

func (s *Server) newID(prefix string) string {
	s.nextID++
	return fmt.Sprintf("%s%012d", prefix, s.nextID)
}

// idempotent returns the ID created earlier by the same action and ClientToken.
func (s *Server) idempotent(action string, p params) (string, bool) {
	t := p.Get("ClientToken")
	if t == "" {
		return "", false
	}
	id, ok := s.tokens[action+"\x00"+t]
	return id, ok
}

func (s *Server) remember(action string, p params, id string) {
	if t := p.Get("ClientToken"); t != "" {
		s.tokens[action+"\x00"+t] = id
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Clock is a manual clock for tests: Now is fixed until Advance or Sleep moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Sleep advances the clock by d at once, unless ctx is done first (then it returns ctx.Err()).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
