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
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// DefaultTimeout bounds one send when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// maxResponse is how much of a robot's answer is read to check its error code.
const maxResponse = 64 << 10

// ErrSend is wrapped by every send failure (logged, never returned by Notify).
var ErrSend = errors.New("notify: send failed")

// Options tune a Notifier. Zero values are fine.
type Options struct {
	// Client sends the requests; nil means a client without its own timeout (each send
	// is bounded by Timeout through its context).
	Client *http.Client
	// Logger receives one line per failed send (and per success at debug level); nil
	// discards.
	Logger *slog.Logger
	// Timeout bounds each send (DefaultTimeout when zero).
	Timeout time.Duration
	// Now gives the time used in signatures (time.Now when nil).
	Now func() time.Time
}

// Notifier sends events to the configured webhooks. A nil *Notifier sends nothing, so a
// config without notify: needs no special case. Its methods are safe for concurrent use.
type Notifier struct {
	hooks   []Webhook
	client  *http.Client
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	pending map[chan struct{}]struct{} // one per send under way
}

// New returns a Notifier for hooks after validating them (see Validate; keys are named
// under "notify"). It returns nil, nil when there are no hooks.
func New(hooks []Webhook, opt Options) (*Notifier, error) {
	if err := Validate("notify", hooks); err != nil {
		return nil, err
	}
	if len(hooks) == 0 {
		return nil, nil
	}
	n := &Notifier{
		hooks:   append([]Webhook(nil), hooks...),
		client:  opt.Client,
		log:     opt.Logger,
		timeout: opt.Timeout,
		now:     opt.Now,
		pending: map[chan struct{}]struct{}{},
	}
	if n.client == nil {
		n.client = &http.Client{}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// Notify starts sending e to every webhook that wants its kind and returns at once. Each
// send runs in its own goroutine under a context that keeps ctx's values but not its
// cancellation (the invocation's answer must not abort a notification already under way),
// bounded by the timeout. Failures are logged. Call Wait before the invocation returns.
func (n *Notifier) Notify(ctx context.Context, e Event) {
	if n == nil {
		return
	}
	if e.At.IsZero() {
		e.At = n.now()
	}
	base := context.WithoutCancel(ctx)
	for i, w := range n.hooks {
		if !w.wants(e.Kind) {
			continue
		}
		done := make(chan struct{})
		n.mu.Lock()
		n.pending[done] = struct{}{}
		n.mu.Unlock()
		go func() {
			defer func() {
				n.mu.Lock()
				delete(n.pending, done)
				n.mu.Unlock()
				close(done)
			}()
			sctx, cancel := context.WithTimeout(base, n.timeout)
			defer cancel()
			start := n.now()
			err := n.send(sctx, w, e)
			attrs := []slog.Attr{
				slog.String("sink", fmt.Sprintf("notify[%d]", i)),
				slog.String("webhook", w.redacted()),
				slog.String("event", string(e.Kind)),
				slog.String("site", string(e.Site)),
				slog.Duration("latency", n.now().Sub(start)),
			}
			if err != nil {
				n.log.LogAttrs(sctx, slog.LevelWarn, "notification failed", append(attrs, slog.String("error", err.Error()))...)
				return
			}
			n.log.LogAttrs(sctx, slog.LevelDebug, "notification sent", attrs...)
		}()
	}
}

// Wait blocks until every send started by Notify before the call has finished, or ctx is
// done, and reports whether they all finished. Pass the invocation's context (its
// deadline), or a context with a short timeout, so a slow webhook cannot hold the
// invocation.
func (n *Notifier) Wait(ctx context.Context) bool {
	if n == nil {
		return true
	}
	n.mu.Lock()
	chans := make([]chan struct{}, 0, len(n.pending))
	for c := range n.pending {
		chans = append(chans, c)
	}
	n.mu.Unlock()
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// send delivers one event to one webhook and checks the robot's answer.
func (n *Notifier) send(ctx context.Context, w Webhook, e Event) error {
	target, body, header, err := n.build(w, e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: bad request", ErrSend) // never echo the URL
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "ppter-notify/1")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSend, stripURL(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: HTTP %d", ErrSend, resp.StatusCode)
	}
	return checkAnswer(w.Kind, data)
}

// stripURL drops the URL (with its token) from a transport error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkAnswer reads the robots' JSON error codes: DingTalk and WeCom answer
// {"errcode":0,"errmsg":"ok"}, Feishu {"code":0,"msg":"success"} (older: StatusCode).
// The json sink only needs a 2xx status.
func checkAnswer(kind Sink, data []byte) error {
	if kind == JSON {
		return nil
	}
	var a struct {
		ErrCode    *int   `json:"errcode"`
		ErrMsg     string `json:"errmsg"`
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("%w: answer is not JSON", ErrSend)
	}
	switch {
	case a.ErrCode != nil && *a.ErrCode != 0:
		return fmt.Errorf("%w: errcode %d: %.200s", ErrSend, *a.ErrCode, a.ErrMsg)
	case a.Code != nil && *a.Code != 0:
		return fmt.Errorf("%w: code %d: %.200s", ErrSend, *a.Code, a.Msg)
	case a.StatusCode != nil && *a.StatusCode != 0:
		return fmt.Errorf("%w: StatusCode %d", ErrSend, *a.StatusCode)
	}
	return nil
}

// build returns the URL, body and extra headers of the request for w.
func (n *Notifier) build(w Webhook, e Event) (string, []byte, map[string]string, error) {
	now := n.now()
	target := w.URL
	var body any
	var header map[string]string
	switch w.Kind {
	case DingTalk:
		if w.Format == FormatMarkdown {
			body = map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": e.Title(), "text": e.Markdown()}}
		} else {
			body = map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text()}}
		}
		if w.Secret != "" {
			ts, sign := DingTalkSign(w.Secret, now)
			u, err := url.Parse(w.URL)
			if err != nil {
				return "", nil, nil, fmt.Errorf("%w: bad URL", ErrSend)
			}
			q := u.Query()
			q.Set("timestamp", ts)
			q.Set("sign", sign)
			u.RawQuery = q.Encode()
			target = u.String()
		}
	case WeCom:
		if w.Format == FormatMarkdown {
			body = map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": e.Markdown()}}
		} else {
			body = map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text()}}
		}
	case Feishu:
		m := map[string]any{"msg_type": "text", "content": map[string]string{"text": e.Text()}}
		if w.Secret != "" {
			ts, sign := FeishuSign(w.Secret, now)
			m["timestamp"], m["sign"] = ts, sign
		}
		body = m
	case JSON:
		data, err := json.Marshal(e.payload())
		if err != nil {
			return "", nil, nil, err
		}
		if w.Secret != "" {
			ts := strconv.FormatInt(now.Unix(), 10)
			header = map[string]string{SignatureHeader: "t=" + ts + ",v1=" + JSONSign(w.Secret, ts, data)}
		}
		return target, data, header, nil
	default:
		return "", nil, nil, fmt.Errorf("%w: unknown kind %q", ErrSend, w.Kind)
	}
	data, err := json.Marshal(body)
	return target, data, header, err
}

// DingTalkSign computes DingTalk's signed-robot parameters: timestamp is the time in
// milliseconds, sign is base64(HMAC-SHA256(key=secret, timestamp+"\n"+secret)), to be sent
// (URL-encoded) as the timestamp and sign query parameters.
func DingTalkSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return timestamp, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// FeishuSign computes Feishu/Lark's signed-bot fields: timestamp is the time in seconds,
// sign is base64(HMAC-SHA256(key=timestamp+"\n"+secret, empty message)), both sent in the
// JSON body.
func FeishuSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return timestamp, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignatureHeader carries the json sink's signature when it has a secret:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
const SignatureHeader = "X-Ppter-Signature"

// JSONSign computes the v1 value of SignatureHeader.
func JSONSign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
