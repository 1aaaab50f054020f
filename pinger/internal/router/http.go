package router

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// HTTPConfig configures the http driver: a declarative replay of what a browser does on a
// router's admin page. Login requests run first (cookies are kept in a jar, values are
// captured from bodies, headers or cookies), then the update requests, once per change.
// Every text field of a request may reference {{.Peer}}, {{.PeerIP}}, {{.OldIP}},
// {{.SelfIP}}, {{.SelfLine}} (the office's line SelfIP is of), {{.Family}}, {{.Username}}, {{.Password}}, {{.Vars.KEY}} (the peer's vars)
// and {{.Captured.NAME}} (captured values); nothing else is interpreted.
//
//	http:
//	  base_url: https://192.168.1.1
//	  username: admin
//	  password_file: /etc/ppter/router.pass      # or env PPTER_ROUTER_PASSWORD
//	  peers: { bj: { index: "2" } }              # template vars per peer; only these peers are applied
//	  login:
//	    - { method: GET, path: /login, capture: [ { name: csrf, regex: 'name="csrf" value="([^"]+)"' } ] }
//	    - method: POST
//	      path: /login
//	      form: { user: "{{.Username}}", pass: "{{.Password}}", csrf: "{{.Captured.csrf}}" }
//	  update:
//	    - method: POST
//	      path: /vpn/peer/{{.Vars.index}}
//	      headers: { X-CSRF-Token: "{{.Captured.csrf}}" }
//	      form: { remote: "{{.PeerIP}}" }
//	      expect_body: '"ok":true'
type HTTPConfig struct {
	BaseURL      string                          `yaml:"base_url"`
	Username     string                          `yaml:"username"`
	PasswordFile string                          `yaml:"password_file"`
	Password     string                          `yaml:"-"`
	TLS          TLSConfig                       `yaml:",inline"`
	Timeout      time.Duration                   `yaml:"timeout"`
	Family       wire.Family                     `yaml:"family"`
	Peers        map[site.Peer]map[string]string `yaml:"peers"`
	Login        []HTTPRequest                   `yaml:"login"`
	Update       []HTTPRequest                   `yaml:"update"`
	HTTPClient   *http.Client                    `yaml:"-"`
}

// HTTPRequest is one templated request.
type HTTPRequest struct {
	Method      string            `yaml:"method"`
	Path        string            `yaml:"path"`
	Query       map[string]string `yaml:"query"`
	Headers     map[string]string `yaml:"headers"`
	Form        map[string]string `yaml:"form"`
	JSON        string            `yaml:"json"`
	Body        string            `yaml:"body"`
	ContentType string            `yaml:"content_type"`
	// ExpectStatus lists accepted statuses; any 2xx or 3xx when empty.
	ExpectStatus []int `yaml:"expect_status"`
	// ExpectBody is a regular expression the answer body must match (routers often answer
	// 200 with an error page).
	ExpectBody string        `yaml:"expect_body"`
	Capture    []HTTPCapture `yaml:"capture"`
}

// HTTPCapture captures one value from an answer, by regex (first group) or JSON path.
type HTTPCapture struct {
	Name string `yaml:"name"`
	// From is body (default), header:NAME or cookie:NAME.
	From  string `yaml:"from"`
	Regex string `yaml:"regex"`
	// JSON is a dotted path into a JSON body, e.g. data.token or items.0.id.
	JSON string `yaml:"json"`
}

// HTTP drives routers that only have a web admin page (SMB routers from Huawei, H3C,
// TP-Link and the like) by replaying the requests a browser makes: log in, capture the
// session cookie or CSRF token, post the new peer address. TLS verification is on unless
// insecure_skip_verify is set.
type HTTP struct {
	cfg    HTTPConfig
	base   *url.URL
	login  []compiledRequest
	update []compiledRequest
	mapped
}

var _ Driver = (*HTTP)(nil)

type compiledRequest struct {
	HTTPRequest
	label      string
	method     *tmpl
	path       *tmpl
	body       *tmpl
	query      map[string]*tmpl
	headers    map[string]*tmpl
	form       map[string]*tmpl
	expectBody *regexp.Regexp
	capture    []compiledCapture
}

type compiledCapture struct {
	HTTPCapture
	re *regexp.Regexp
}

// ErrHTTPStep means a request of the http driver failed or its answer was not as expected.
var ErrHTTPStep = errors.New("http step failed")

// NewHTTP returns an http driver, checking every template and regex up front.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, errors.New("http: base_url must be http(s)://host[:port] without credentials")
	}
	if len(cfg.Update) == 0 {
		return nil, errors.New("http: no update requests")
	}
	login, err := compileAll("login", cfg.Login)
	if err != nil {
		return nil, err
	}
	update, err := compileAll("update", cfg.Update)
	if err != nil {
		return nil, err
	}
	m := make(mapped, 0, len(cfg.Peers))
	for ref := range cfg.Peers {
		m = append(m, ref)
	}
	return &HTTP{cfg: cfg, base: u, login: login, update: update, mapped: m}, nil
}

// compileAll compiles the requests of a list (login or update).
func compileAll(list string, rs []HTTPRequest) ([]compiledRequest, error) {
	var out []compiledRequest
	for i, r := range rs {
		c, err := compile(fmt.Sprintf("%s[%d]", list, i), r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// compile checks r and parses its templates and regular expressions.
func compile(label string, r HTTPRequest) (compiledRequest, error) {
	c := compiledRequest{HTTPRequest: r, label: label}
	if err := c.templates(); err != nil {
		return c, err
	}
	if r.ExpectBody != "" {
		var err error
		if c.expectBody, err = regexp.Compile(r.ExpectBody); err != nil {
			return c, fmt.Errorf("http: %s expect_body: %w", label, err)
		}
	}
	for _, cp := range r.Capture {
		cc, err := compileCapture(label, cp)
		if err != nil {
			return c, err
		}
		c.capture = append(c.capture, cc)
	}
	return c, nil
}

// templates parses the request's text fields, in order, and returns the first error.
func (r *compiledRequest) templates() error {
	var err error
	one := func(field, text string) *tmpl {
		if err != nil {
			return nil
		}
		t, perr := parseTmpl(r.label+"."+field, text)
		if perr != nil {
			err = fmt.Errorf("http: %w", perr)
		}
		return t
	}
	each := func(field string, m map[string]string) map[string]*tmpl {
		out := map[string]*tmpl{}
		for k, v := range m {
			out[k] = one(field+"."+k, v)
		}
		return out
	}
	r.method = one("method", cmp.Or(r.Method, http.MethodGet))
	if err == nil && !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("http: %s: path must start with /", r.label)
	}
	r.path = one("path", r.Path)
	bodies := 0
	for _, b := range []bool{len(r.Form) > 0, r.JSON != "", r.Body != ""} {
		if b {
			bodies++
		}
	}
	if err == nil && bodies > 1 {
		return fmt.Errorf("http: %s: set only one of form, json, body", r.label)
	}
	r.body = one("body", cmp.Or(r.JSON, r.Body))
	r.query = each("query", r.Query)
	r.headers = each("headers", r.Headers)
	r.form = each("form", r.Form)
	return err
}

func compileCapture(label string, cp HTTPCapture) (compiledCapture, error) {
	cc := compiledCapture{HTTPCapture: cp}
	where := "http: " + label + " capture " + cp.Name
	switch {
	case cp.Name == "":
		return cc, fmt.Errorf("http: %s: capture without name", label)
	case (cp.Regex == "") == (cp.JSON == ""):
		return cc, fmt.Errorf("%s: set exactly one of regex, json", where)
	case cp.From != "" && cp.From != "body" && !strings.HasPrefix(cp.From, "header:") && !strings.HasPrefix(cp.From, "cookie:"):
		return cc, fmt.Errorf("%s: from must be body, header:NAME or cookie:NAME", where)
	case cp.Regex == "":
		return cc, nil
	}
	var err error
	if cc.re, err = regexp.Compile(cp.Regex); err != nil {
		return cc, fmt.Errorf("%s: %w", where, err)
	}
	if cc.re.NumSubexp() < 1 {
		return cc, fmt.Errorf("%s: regex needs a (group)", where)
	}
	return cc, nil
}

// Wants accepts peer changes in the configured family: of the listed peer lines when
// peers is set, else of every peer's default line.
func (h *HTTP) Wants(c Change) bool {
	if c.Self || !h.cfg.Family.Is(c.Family) {
		return false
	}
	if len(h.cfg.Peers) == 0 {
		return c.Line == ""
	}
	_, ok := h.cfg.Peers[c.Ref()]
	return ok
}

// templateData is what templates see.
type templateData struct {
	Peer, PeerIP, OldIP, SelfIP, SelfLine, Family string
	Username, Password                            string
	Vars                                          map[string]string
	Captured                                      map[string]string
}

// Apply logs in with a fresh session and runs the update requests.
func (h *HTTP) Apply(ctx context.Context, c Change) error {
	hc := h.cfg.HTTPClient
	if hc == nil {
		var err error
		if hc, err = newHTTPClient(h.cfg.TLS, h.cfg.Timeout); err != nil {
			return fmt.Errorf("http: %w", err)
		}
	}
	jar, _ := cookiejar.New(nil)
	session := *hc
	session.Jar = jar
	session.CheckRedirect = sameHostRedirects(h.base)
	data := &templateData{
		Peer: string(c.Peer), PeerIP: c.New.String(), SelfIP: wire.AddrString(c.SelfIP), SelfLine: string(c.SelfLine), OldIP: wire.AddrString(c.Old),
		Family: c.Family.String(), Username: h.cfg.Username, Password: h.cfg.Password,
		Vars: h.cfg.Peers[c.Ref()], Captured: map[string]string{},
	}
	if data.Vars == nil {
		data.Vars = map[string]string{}
	}
	for _, r := range slices.Concat(h.login, h.update) {
		if err := h.step(ctx, &session, jar, r, data); err != nil {
			return fmt.Errorf("http: %w: %w", ErrApply, err)
		}
	}
	return nil
}

func render(t *tmpl, data *templateData) (string, error) {
	return t.execute(data, escNone)
}

// renderEach renders each template of m and passes the result to set.
func renderEach(m map[string]*tmpl, data *templateData, set func(k, v string)) error {
	for k, t := range m {
		v, err := render(t, data)
		if err != nil {
			return err
		}
		set(k, v)
	}
	return nil
}

// step runs one request. Its errors name the step and the status, never the URL, the
// request body or the answer body, which may carry credentials.
func (h *HTTP) step(ctx context.Context, hc *http.Client, jar http.CookieJar, r compiledRequest, data *templateData) error {
	req, err := h.request(ctx, r, data)
	if err != nil {
		return err
	}
	if err := r.send(hc, req, jar, data.Captured); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrHTTPStep, r.label, r.Path, err)
	}
	return nil
}

// request renders r into a request to the router.
func (h *HTTP) request(ctx context.Context, r compiledRequest, data *templateData) (*http.Request, error) {
	method, err := render(r.method, data)
	if err != nil {
		return nil, err
	}
	u, err := h.url(r, data)
	if err != nil {
		return nil, err
	}
	body, contentType, err := r.renderBody(data)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: bad request", ErrHTTPStep, r.label)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, renderEach(r.headers, data, req.Header.Set)
}

// url renders r's path and query onto the base URL.
func (h *HTTP) url(r compiledRequest, data *templateData) (string, error) {
	path, err := r.path.execute(data, escURL)
	if err != nil {
		return "", err
	}
	pu, err := url.Parse(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: bad path", ErrHTTPStep, r.label)
	}
	u := *h.base
	u.Path, u.RawPath, u.RawQuery = pu.Path, pu.RawPath, pu.RawQuery
	q := u.Query()
	if err := renderEach(r.query, data, q.Set); err != nil {
		return "", err
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// renderBody renders r's form, json or body and returns it with its content type.
func (r compiledRequest) renderBody(data *templateData) (io.Reader, string, error) {
	if len(r.form) > 0 {
		f := url.Values{}
		if err := renderEach(r.form, data, f.Set); err != nil {
			return nil, "", err
		}
		return strings.NewReader(f.Encode()), cmp.Or(r.ContentType, "application/x-www-form-urlencoded"), nil
	}
	ec, contentType := escNone, r.ContentType
	if r.JSON != "" {
		ec, contentType = escJSON, cmp.Or(contentType, "application/json")
	}
	b, err := r.body.execute(data, ec)
	if err != nil || b == "" {
		return nil, contentType, err
	}
	return strings.NewReader(b), contentType, nil
}

// send sends req, checks the answer against r's expectations and adds r's captures to
// captured.
func (r compiledRequest) send(hc *http.Client, req *http.Request, jar http.CookieJar, captured map[string]string) error {
	resp, err := hc.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading answer: %v", err)
	}
	if len(r.ExpectStatus) > 0 && !slices.Contains(r.ExpectStatus, resp.StatusCode) ||
		len(r.ExpectStatus) == 0 && (resp.StatusCode < 200 || resp.StatusCode >= 400) {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if r.expectBody != nil && !r.expectBody.Match(raw) {
		return errors.New("answer does not match expect_body")
	}
	for _, cp := range r.capture {
		v, err := capture(cp, resp, raw, jar)
		if err != nil {
			return fmt.Errorf("capture %s: %v", cp.Name, err)
		}
		captured[cp.Name] = v
	}
	return nil
}

// capture returns the value cp captures from an answer.
func capture(cp compiledCapture, resp *http.Response, body []byte, jar http.CookieJar) (string, error) {
	src := string(body)
	switch {
	case strings.HasPrefix(cp.From, "header:"):
		src = resp.Header.Get(strings.TrimPrefix(cp.From, "header:"))
	case strings.HasPrefix(cp.From, "cookie:"):
		name := strings.TrimPrefix(cp.From, "cookie:")
		src = ""
		for _, ck := range jar.Cookies(resp.Request.URL) {
			if ck.Name == name {
				src = ck.Value
			}
		}
	}
	if cp.re == nil {
		return jsonPath(src, cp.JSON)
	}
	m := cp.re.FindStringSubmatch(src)
	if m == nil {
		return "", errors.New("regex did not match")
	}
	return m[1], nil
}

// jsonPath returns the string, number or boolean at path (dotted keys and indexes) in the
// JSON text src.
func jsonPath(src, path string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		return "", errors.New("answer is not JSON")
	}
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return "", fmt.Errorf("no element %q", key)
			}
			v = x[i]
		default:
			return "", fmt.Errorf("no field %q", key)
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("json path %s is not a string or number", path)
}
