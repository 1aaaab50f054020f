package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var clock = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return clock }

var changed = Event{
	Kind:       AddressChanged,
	Site:       "hz",
	At:         clock,
	IP:         netip.MustParseAddr("1.2.3.4"),
	PreviousIP: netip.MustParseAddr("5.6.7.8"),
}

const changedText = "ppter hz: address changed\naddress: 5.6.7.8 → 1.2.3.4\nat: 2026-11-28T10:00:00Z"

// received is one request seen by a receiver.
type received struct {
	Path   string
	Query  map[string][]string
	Header http.Header
	Body   []byte
}

// receiver is an httptest robot that records requests and answers with answer.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	code int
	body string
}

func newReceiver(t *testing.T, code int, body string) *receiver {
	r := &receiver{code: code, body: body}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		data, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.URL.Path, req.URL.Query(), req.Header.Clone(), data})
		r.mu.Unlock()
		if req.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(r.code)
		io.WriteString(w, r.body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) one(t *testing.T) received {
	t.Helper()
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("got %d requests, want 1", len(got))
	}
	return got[0]
}

// logBuffer collects log lines safely from several goroutines, and signals each on lines
// (slog writes a record in one Write).
type logBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	lines chan struct{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines <- struct{}{}
	return l.b.Write(p)
}

// waitLines waits for n more log lines.
func (l *logBuffer) waitLines(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-l.lines:
		case <-time.After(10 * time.Second): // a safety net: the lines come at once
			t.Fatalf("waited for %d log lines:\n%s", n, l.String())
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newNotifier(t *testing.T, hooks []Webhook, timeout time.Duration) (*Notifier, *logBuffer) {
	t.Helper()
	logs := logBuffer{lines: make(chan struct{}, 100)}
	n, err := New(hooks, Options{
		Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Timeout: timeout,
		Now:     fixedNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, &logs
}

func send(t *testing.T, n *Notifier, e Event) {
	t.Helper()
	n.Notify(context.Background(), e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !n.Wait(ctx) {
		t.Fatal("Wait: sends did not finish")
	}
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("body %q: %v", data, err)
	}
	return m
}

func wantJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	g, w := decode(t, got), decode(t, []byte(want))
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body:\ngot  %s\nwant %s", got, want)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const okDing = `{"errcode":0,"errmsg":"ok"}`

func TestDingTalkSigned(t *testing.T) {
	r := newReceiver(t, 200, okDing)
	secret := "SEC0123456789abcdef"
	n, _ := newNotifier(t, []Webhook{{Kind: DingTalk, URL: r.URL + "/robot/send?access_token=tok123", Secret: secret}}, 0)
	send(t, n, changed)
	got := r.one(t)
	if got.Path != "/robot/send" || got.Query["access_token"][0] != "tok123" {
		t.Errorf("url: got %s %v, want /robot/send with access_token kept", got.Path, got.Query)
	}
	ts := got.Query["timestamp"][0]
	if want := strconv.FormatInt(clock.UnixMilli(), 10); ts != want {
		t.Errorf("timestamp: got %s, want %s (milliseconds)", ts, want)
	}
	// DingTalk: sign = urlencode(base64(HmacSHA256(secret, timestamp + "\n" + secret))).
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + secret))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); got.Query["sign"][0] != want {
		t.Errorf("sign: got %s, want %s", got.Query["sign"][0], want)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type: got %q", ct)
	}
	wantJSON(t, got.Body, `{"msgtype":"text","text":{"content":`+jsonString(changedText)+`}}`)
}

func TestDingTalkMarkdownUnsigned(t *testing.T) {
	r := newReceiver(t, 200, okDing)
	n, _ := newNotifier(t, []Webhook{{Kind: DingTalk, URL: r.URL + "/robot/send?access_token=tok", Format: FormatMarkdown}}, 0)
	e := Event{Kind: TargetFailed, Site: "hz", At: clock, TargetKind: "vpn", Target: "to-hz", IP: netip.MustParseAddr("1.2.3.4"), Error: "VpnGateway.Configuring *busy*"}
	send(t, n, e)
	got := r.one(t)
	if _, ok := got.Query["sign"]; ok {
		t.Error("unsigned robot got a sign parameter")
	}
	md := "### ppter hz: vpn to-hz failed\n- **address**: 1.2.3.4\n- **error**: VpnGateway.Configuring \\*busy\\*\n- **at**: 2026-11-28T10:00:00Z"
	wantJSON(t, got.Body, `{"msgtype":"markdown","markdown":{"title":"ppter hz: vpn to-hz failed","text":`+jsonString(md)+`}}`)
}

func TestWeCom(t *testing.T) {
	for _, format := range []string{"", FormatMarkdown} {
		t.Run("format="+format, func(t *testing.T) {
			r := newReceiver(t, 200, okDing)
			n, _ := newNotifier(t, []Webhook{{Kind: WeCom, URL: r.URL + "/cgi-bin/webhook/send?key=k-1", Format: format}}, 0)
			e := Event{Kind: SiteStale, Site: "bj", At: clock, SeenAt: clock.Add(-5 * time.Minute), IP: netip.MustParseAddr("2400:3200::1")}
			send(t, n, e)
			got := r.one(t)
			if got.Query["key"][0] != "k-1" || len(got.Query) != 1 {
				t.Errorf("query: got %v, want only key", got.Query)
			}
			if format == "" {
				text := "ppter bj: stale\nlast seen: 2026-11-28T09:55:00Z\nlast address: 2400:3200::1\nat: 2026-11-28T10:00:00Z"
				wantJSON(t, got.Body, `{"msgtype":"text","text":{"content":`+jsonString(text)+`}}`)
			} else {
				md := "### ppter bj: stale\n- **last seen**: 2026-11-28T09:55:00Z\n- **last address**: 2400:3200::1\n- **at**: 2026-11-28T10:00:00Z"
				wantJSON(t, got.Body, `{"msgtype":"markdown","markdown":{"content":`+jsonString(md)+`}}`)
			}
		})
	}
}

func TestFeishu(t *testing.T) {
	const ok = `{"code":0,"msg":"success","data":{}}`
	t.Run("signed", func(t *testing.T) {
		r := newReceiver(t, 200, ok)
		secret := "feishu-secret"
		n, _ := newNotifier(t, []Webhook{{Kind: Feishu, URL: r.URL + "/open-apis/bot/v2/hook/abc-token", Secret: secret}}, 0)
		send(t, n, changed)
		got := r.one(t)
		m := decode(t, got.Body)
		ts, _ := m["timestamp"].(string)
		if want := strconv.FormatInt(clock.Unix(), 10); ts != want {
			t.Errorf("timestamp: got %v, want %s (seconds, as a string)", m["timestamp"], want)
		}
		// Feishu: sign = base64(HmacSHA256(key = timestamp + "\n" + secret, message = "")).
		h := hmac.New(sha256.New, []byte(ts+"\n"+secret))
		want := base64.StdEncoding.EncodeToString(h.Sum(nil))
		wantJSON(t, got.Body, `{"timestamp":"`+ts+`","sign":"`+want+`","msg_type":"text","content":{"text":`+jsonString(changedText)+`}}`)
	})
	t.Run("unsigned", func(t *testing.T) {
		r := newReceiver(t, 200, ok)
		n, _ := newNotifier(t, []Webhook{{Kind: Feishu, URL: r.URL + "/open-apis/bot/v2/hook/abc-token"}}, 0)
		send(t, n, changed)
		wantJSON(t, r.one(t).Body, `{"msg_type":"text","content":{"text":`+jsonString(changedText)+`}}`)
	})
}

func TestJSONSink(t *testing.T) {
	r := newReceiver(t, 204, "")
	n, _ := newNotifier(t, []Webhook{{Kind: JSON, URL: r.URL + "/hook", Secret: "k"}}, 0)
	e := Event{Kind: TargetRecovered, Site: "hz", At: clock, TargetKind: "dns", Target: "hz.vpn.example.com/A", IP: netip.MustParseAddr("1.2.3.4")}
	send(t, n, e)
	got := r.one(t)
	wantJSON(t, got.Body, `{"kind":"target_recovered","site":"hz","at":"2026-11-28T10:00:00Z","ip":"1.2.3.4",
		"target_kind":"dns","target":"hz.vpn.example.com/A",
		"text":"ppter hz: dns hz.vpn.example.com/A recovered\naddress: 1.2.3.4\nat: 2026-11-28T10:00:00Z"}`)
	sig := got.Header.Get(SignatureHeader)
	ts := strconv.FormatInt(clock.Unix(), 10)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte(ts + "."))
	m.Write(got.Body)
	if want := "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Errorf("signature: got %q, want %q", sig, want)
	}
}

func TestEventFilter(t *testing.T) {
	all := newReceiver(t, 200, "")
	stale := newReceiver(t, 200, "")
	n, _ := newNotifier(t, []Webhook{
		{Kind: JSON, URL: all.URL},
		{Kind: JSON, URL: stale.URL, Events: []string{"site_stale", "site_back"}},
	}, 0)
	for _, k := range Kinds {
		n.Notify(context.Background(), Event{Kind: k, Site: "hz"})
	}
	if !n.Wait(context.Background()) {
		t.Fatal("Wait returned false")
	}
	kinds := func(r *receiver) map[string]bool {
		out := map[string]bool{}
		for _, g := range r.requests() {
			out[decode(t, g.Body)["kind"].(string)] = true
		}
		return out
	}
	if got := kinds(all); len(got) != len(Kinds) {
		t.Errorf("unfiltered sink: got %v, want all %d kinds", got, len(Kinds))
	}
	if got, want := kinds(stale), map[string]bool{"site_stale": true, "site_back": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("filtered sink: got %v, want %v", got, want)
	}
}

// timeouts is a fake of context.WithTimeout: its contexts end with their parent, or with
// DeadlineExceeded when expire is called, never by themselves. It records the durations.
type timeouts struct {
	mu      sync.Mutex
	asked   []time.Duration
	expired chan struct{}
}

func (f *timeouts) withTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, d)
	ctx, cancel := context.WithCancel(parent)
	c := &deadlineCtx{Context: ctx, done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			c.err = ctx.Err()
		case <-f.expired:
			c.err = context.DeadlineExceeded
		}
		close(c.done)
	}()
	return c, cancel
}

func (f *timeouts) expire() { close(f.expired) }

type deadlineCtx struct {
	context.Context
	done chan struct{}
	err  error // set before done is closed
}

func (c *deadlineCtx) Done() <-chan struct{} { return c.done }

func (c *deadlineCtx) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// TestFailuresDoNotPropagate checks that broken webhooks are logged without their tokens
// and never block or fail the caller, while a good sink in the same notifier still gets
// its message, and a webhook that never answers is cut off by the send's timeout. The
// timeout is a fake: it expires once every other send has been logged, so a slow machine
// cannot turn another sink's failure into a timeout.
func TestFailuresDoNotPropagate(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	fail500 := newReceiver(t, 500, "boom")
	errcode := newReceiver(t, 200, `{"errcode":310000,"errmsg":"sign not match"}`)
	feishuErr := newReceiver(t, 200, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`)
	notJSON := newReceiver(t, 200, `<html>`)
	good := newReceiver(t, 200, okDing)

	hooks := []Webhook{
		{Kind: DingTalk, URL: fail500.URL + "/robot/send?access_token=TOKEN500"},
		{Kind: DingTalk, URL: errcode.URL + "/robot/send?access_token=TOKENERR", Secret: "SECRETERR"},
		{Kind: Feishu, URL: feishuErr.URL + "/open-apis/bot/v2/hook/TOKENFEISHU", Secret: "SECRETFEISHU"},
		{Kind: WeCom, URL: notJSON.URL + "/cgi-bin/webhook/send?key=TOKENHTML"},
		{Kind: WeCom, URL: slow.URL + "/cgi-bin/webhook/send?key=TOKENSLOW"},
		{Kind: JSON, URL: closedURL + "/hook/TOKENCLOSED?token=TOKENQ"},
		{Kind: WeCom, URL: good.URL + "/cgi-bin/webhook/send?key=TOKENGOOD"},
	}
	n, logs := newNotifier(t, hooks, 42*time.Second)
	fake := &timeouts{expired: make(chan struct{})}
	n.withTimeout = fake.withTimeout
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a finished invocation context must not abort the sends
	n.Notify(ctx, changed)
	logs.waitLines(t, len(hooks)-1) // every send but the slow one's
	select {
	case <-arrived:
	case <-time.After(10 * time.Second): // a safety net, as in waitLines
		t.Fatalf("the slow webhook got no request:\n%s", logs.String())
	}
	if out := logs.String(); strings.Contains(out, "deadline exceeded") {
		t.Fatalf("a send timed out before its timeout expired:\n%s", out)
	}
	fake.expire()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if !n.Wait(wctx) {
		t.Fatal("Wait: sends did not finish after their timeout expired")
	}
	if len(good.requests()) != 1 {
		t.Errorf("good sink: got %d requests, want 1", len(good.requests()))
	}
	if want := slices.Repeat([]time.Duration{42 * time.Second}, len(hooks)); !slices.Equal(fake.asked, want) {
		t.Errorf("timeouts: got %v, want %v", fake.asked, want)
	}
	out := logs.String()
	if got := strings.Count(out, `"msg":"notification failed"`); got != 6 {
		t.Errorf("got %d failure lines, want 6:\n%s", got, out)
	}
	for _, want := range []string{"HTTP 500", "errcode 310000", "code 19021", "not JSON", "deadline exceeded", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"TOKEN", "SECRET", "access_token", "key="} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q:\n%s", secret, out)
		}
	}
}

func TestWaitBounded(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	n, _ := newNotifier(t, []Webhook{{Kind: JSON, URL: srv.URL}}, time.Minute)
	n.Notify(context.Background(), changed)
	<-arrived
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n.Wait(ctx) {
		t.Error("Wait with a done context: got true while a send is under way")
	}
	close(release)
	if !n.Wait(context.Background()) {
		t.Error("Wait after release: got false")
	}
}

func TestNilNotifier(t *testing.T) {
	n, err := New(nil, Options{})
	if err != nil || n != nil {
		t.Fatalf("New(nil): got %v, %v, want nil, nil", n, err)
	}
	n.Notify(context.Background(), changed)
	if !n.Wait(context.Background()) {
		t.Error("nil Wait: got false")
	}
}

func TestValidate(t *testing.T) {
	ok := "https://oapi.dingtalk.com/robot/send?access_token=x"
	const bad = "invalid notify config: notify[0]."
	tests := []struct {
		name string
		hook Webhook
		want string // the whole error; "" for none
	}{
		{"dingtalk", Webhook{Kind: DingTalk, URL: ok, Secret: "SEC1", Format: FormatMarkdown}, ""},
		{"wecom", Webhook{Kind: WeCom, URL: ok, Events: []string{"address_changed"}}, ""},
		{"feishu", Webhook{Kind: Feishu, URL: ok, Secret: "s", Format: FormatText}, ""},
		{"json", Webhook{Kind: JSON, URL: "http://127.0.0.1:9/x"}, ""},
		{"bad kind", Webhook{Kind: "slack", URL: ok}, bad + `kind: "slack" is not one of dingtalk, wecom, feishu, json`},
		{"no url", Webhook{Kind: JSON}, bad + "url: missing"},
		{"ftp url", Webhook{Kind: JSON, URL: "ftp://x/y"}, bad + "url: not an http(s) URL without user info"},
		{"relative url", Webhook{Kind: JSON, URL: "/hook"}, bad + "url: not an http(s) URL without user info"},
		{"user info", Webhook{Kind: JSON, URL: "https://u:p@x/y"}, bad + "url: not an http(s) URL without user info"},
		{"wecom secret", Webhook{Kind: WeCom, URL: ok, Secret: "s"}, bad + "secret: wecom robots have no signing secret (the key is in the URL)"},
		{"markdown feishu", Webhook{Kind: Feishu, URL: ok, Format: FormatMarkdown}, bad + "format: markdown is only for dingtalk and wecom"},
		{"markdown json", Webhook{Kind: JSON, URL: ok, Format: FormatMarkdown}, bad + "format: markdown is only for dingtalk and wecom"},
		{"bad format", Webhook{Kind: DingTalk, URL: ok, Format: "html"}, bad + `format: "html" is not text or markdown`},
		{"bad event", Webhook{Kind: JSON, URL: ok, Events: []string{"site_stale", "ip_changed"}}, bad + `events[1]: unknown event kind "ip_changed" ` +
			"(want one of address_changed, target_failed, target_recovered, target_vanished, site_stale, site_back, auth_limited)"},
		{"duplicate event", Webhook{Kind: JSON, URL: ok, Events: []string{"site_back", "site_back"}}, bad + `events[1]: "site_back" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate("notify", []Webhook{tt.hook})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
				t.Fatalf("got %v, want ErrInvalid: %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "access_token") || strings.Contains(err.Error(), "u:p") {
				t.Errorf("error leaks the URL: %v", err)
			}
		})
	}
	if err := Validate("notify", []Webhook{{Kind: JSON, URL: "https://hooks.example.com/x", Events: []string{"nope"}}}); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("Validate with an unknown event: got %v, want ErrUnknownEvent", err)
	}
	if _, err := New([]Webhook{{Kind: "x"}}, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New with a bad hook: got %v, want ErrInvalid", err)
	}
	if _, err := ParseKind("nope"); !errors.Is(err, ErrUnknownEvent) || !strings.Contains(err.Error(), "site_back") {
		t.Errorf("ParseKind: got %v, want ErrUnknownEvent listing the kinds", err)
	}
}

func TestEventTexts(t *testing.T) {
	tests := []struct {
		e    Event
		want string
	}{
		{changed, changedText},
		{Event{Kind: AddressChanged, Site: "hz", IP: netip.MustParseAddr("1.2.3.4")}, "ppter hz: address changed\naddress: none → 1.2.3.4"},
		{Event{Kind: SiteBack, Site: "bj", IP: netip.MustParseAddr("1.2.3.4")}, "ppter bj: back\naddress: 1.2.3.4"},
		{Event{Kind: TargetFailed, Site: "bj", TargetKind: "dns", Target: "bj.vpn.example.com/A", Error: "DomainRecordLocked"}, "ppter bj: dns bj.vpn.example.com/A failed\nerror: DomainRecordLocked"},
		{Event{Kind: AddressChanged, Site: "gz", Line: "unicom", IP: netip.MustParseAddr("1.2.3.4")}, "ppter gz: address changed\naddress: none → 1.2.3.4\nline: unicom"},
	}
	for _, tt := range tests {
		if got := tt.e.Text(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	// A vanished connection's texts name it, the address it should point at, why, and when.
	vanished := Event{Kind: TargetVanished, Site: "hz", At: changed.At, IP: netip.MustParseAddr("1.2.3.4"), TargetKind: "vpn",
		Target: "vpn-1/to_hz", Error: "the VPN connection this target was applied to has vanished"}
	at := changed.At.UTC().Format(time.RFC3339)
	for _, tt := range []struct{ what, got, want string }{
		{"Title", vanished.Title(), "ppter hz: vpn vpn-1/to_hz vanished"},
		{"Text", vanished.Text(), "ppter hz: vpn vpn-1/to_hz vanished\naddress: 1.2.3.4\nerror: the VPN connection this target was applied to has vanished\nat: " + at},
		{"Markdown", vanished.Markdown(), "### ppter hz: vpn vpn-1/to\\_hz vanished\n- **address**: 1.2.3.4\n- **error**: the VPN connection this target was applied to has vanished\n- **at**: " + at},
	} {
		if tt.got != tt.want {
			t.Errorf("target_vanished %s: got %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	if p := (Event{Kind: AddressChanged, Site: "gz", Line: "unicom"}).payload(); p.Line != "unicom" {
		t.Errorf("payload line = %q", p.Line)
	}
	if b, _ := json.Marshal(changed.payload()); strings.Contains(string(b), `"line"`) {
		t.Errorf("an event without a line has one: %s", b)
	}
}

// TestSignFunctions pins the exported signing helpers to the same independent formulas.
func TestSignFunctions(t *testing.T) {
	ts, sign := DingTalkSign("SECx", clock)
	m := hmac.New(sha256.New, []byte("SECx"))
	m.Write([]byte(ts + "\nSECx"))
	if sign != base64.StdEncoding.EncodeToString(m.Sum(nil)) || ts != "1795860000000" {
		t.Errorf("DingTalkSign: got %s %s", ts, sign)
	}
	ts, sign = FeishuSign("s", clock)
	f := hmac.New(sha256.New, []byte(ts+"\ns"))
	if sign != base64.StdEncoding.EncodeToString(f.Sum(nil)) || ts != "1795860000" {
		t.Errorf("FeishuSign: got %s %s", ts, sign)
	}
}
