package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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
	hooks []Webhook
	opt   Options // with its defaults filled in by New
	// withTimeout bounds a send: context.WithTimeout, a fake in tests.
	withTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	pending     sync.Map // a chan struct{} per send under way, closed when it ends
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
	opt.Client = cmp.Or(opt.Client, &http.Client{})
	opt.Logger = cmp.Or(opt.Logger, slog.New(slog.DiscardHandler))
	opt.Timeout = cmp.Or(max(opt.Timeout, 0), DefaultTimeout)
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Notifier{hooks: slices.Clone(hooks), opt: opt, withTimeout: context.WithTimeout}, nil
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
		e.At = n.opt.Now()
	}
	base := context.WithoutCancel(ctx)
	for i, w := range n.hooks {
		if !w.wants(e.Kind) {
			continue
		}
		done := make(chan struct{})
		n.pending.Store(done, nil)
		go func() {
			defer close(done)
			defer n.pending.Delete(done)
			sctx, cancel := n.withTimeout(base, n.opt.Timeout)
			defer cancel()
			start := n.opt.Now()
			err := n.send(sctx, w, e)
			attrs := []slog.Attr{
				slog.String("sink", fmt.Sprintf("notify[%d]", i)),
				slog.String("webhook", w.redacted()),
				slog.String("event", string(e.Kind)),
				slog.String("site", string(e.Site)),
				slog.Duration("latency", n.opt.Now().Sub(start)),
			}
			if err != nil {
				n.opt.Logger.LogAttrs(sctx, slog.LevelWarn, "notification failed", append(attrs, slog.String("error", err.Error()))...)
				return
			}
			n.opt.Logger.LogAttrs(sctx, slog.LevelDebug, "notification sent", attrs...)
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
	var chans []any
	for c := range n.pending.Range {
		chans = append(chans, c)
	}
	for _, c := range chans {
		select {
		case <-c.(chan struct{}):
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// sink is one format of webhook.
type sink struct {
	// markdown and secret say whether the sink takes format: markdown and a secret.
	markdown, secret bool
	// request returns the URL, the body (marshalled to JSON) and the extra headers that
	// deliver e to w; now is the time for signatures.
	request func(w Webhook, e Event, now time.Time) (url string, body any, header map[string]string)
	// check reads the answer to a request that got a 2xx status.
	check func(answer []byte) error
}

// send delivers one event to one webhook and checks the robot's answer.
func (n *Notifier) send(ctx context.Context, w Webhook, e Event) error {
	s := sinks[w.Kind]
	target, body, header := s.request(w, e, n.opt.Now())
	// The bodies are maps of strings, which always marshal, or the json sink's signed
	// payload, a json.RawMessage that Marshal leaves byte for byte as it is (json.Marshal
	// wrote it compact), so its signature holds (TestJSONSink checks it).
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: bad request", ErrSend) // never echo the URL
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "ppter-notify/1")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := n.opt.Client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // drop the URL, with its token
		}
		return fmt.Errorf("%w: %v", ErrSend, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: HTTP %d", ErrSend, resp.StatusCode)
	}
	return s.check(answer)
}

// robotCheck reads the chat robots' JSON error codes: DingTalk and WeCom answer
// {"errcode":0,"errmsg":"ok"}, Feishu {"code":0,"msg":"success"} (older: StatusCode).
func robotCheck(data []byte) error {
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

// hmacSHA256 is HMAC-SHA256(key, msg), the MAC of every sink's signature.
func hmacSHA256(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}
