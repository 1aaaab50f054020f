// Package fcemu is a small local emulator of Function Compute 3 for go1 functions, so the
// binary that is deployed is the binary that is tested and `make run` needs no Docker.
//
// It runs the compiled function as a child process with FC_RUNTIME_API pointing at its own
// runtime API (GET /2020-11-11/runtime/invocation/next, POST …/<id>/response and …/<id>/error,
// with the x-fc-* headers the SDK requires), and serves an HTTP gateway that turns each
// request into an FC3 HTTP trigger event whose requestContext.http.sourceIp is the TCP peer,
// then turns the function's answer back into an HTTP response. Like FC, an instance serves
// one invocation at a time.
package fcemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SourceHeader is the header that, when Options.TrustSourceHeader is set, overrides the source address the
// function sees. Tests use it to play offices with different public addresses.
const SourceHeader = "X-Fcemu-Source-Ip"

// Credentials are the temporary credentials handed to each invocation.
type Credentials struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Options configure an emulator.
type Options struct {
	// Binary is the compiled function (the go1 bootstrap).
	Binary string
	// Env is added to the function's environment (which otherwise holds only PATH and
	// FC_RUNTIME_API).
	Env []string
	// Addr is the gateway's listen address; default 127.0.0.1:0.
	Addr string
	// Timeout is the function timeout; default 30s.
	Timeout time.Duration
	// TrustSourceHeader makes the gateway honour SourceHeader (tests only).
	TrustSourceHeader bool
	// Region, AccountID, FunctionName fill the x-fc-* headers.
	Region, AccountID, FunctionName string
	Credentials                     Credentials
	// Stdout and Stderr receive the function's output; default discarded.
	Stdout, Stderr io.Writer
}

// Emulator is a running function behind a gateway.
type Emulator struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:34567.
	URL string

	opt     Options
	cmd     *exec.Cmd
	exited  chan struct{}
	gw      *http.Server
	rt      *http.Server
	queue   chan *invocation
	mu      sync.Mutex // one invocation at a time
	pending sync.Map   // request id → *invocation
	closing chan struct{}
	once    sync.Once

	started   time.Time     // when the process was started
	ready     chan struct{} // closed at the function's first call for its next invocation
	readyOnce sync.Once
	readyAt   time.Time
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result
}

type result struct {
	body []byte
	err  bool
}

// Start launches the function and its gateway. Close stops both.
func Start(ctx context.Context, opt Options) (*Emulator, error) {
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Addr == "" {
		opt.Addr = "127.0.0.1:0"
	}
	if opt.FunctionName == "" {
		opt.FunctionName = "ppter"
	}
	if opt.Region == "" {
		opt.Region = "cn-hangzhou"
	}
	e := &Emulator{opt: opt, queue: make(chan *invocation), closing: make(chan struct{}), exited: make(chan struct{}), ready: make(chan struct{})}

	rtl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listen: %w", err)
	}
	gwl, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		rtl.Close()
		return nil, fmt.Errorf("gateway listen: %w", err)
	}
	e.URL = "http://" + gwl.Addr().String()
	e.rt = &http.Server{Handler: http.HandlerFunc(e.runtimeAPI), ReadHeaderTimeout: 10 * time.Second}
	e.gw = &http.Server{Handler: http.HandlerFunc(e.gateway), ReadHeaderTimeout: 10 * time.Second}
	go e.rt.Serve(rtl)
	go e.gw.Serve(gwl)

	e.cmd = exec.Command(opt.Binary)
	e.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "FC_RUNTIME_API=" + rtl.Addr().String()}, opt.Env...)
	e.cmd.Stdout, e.cmd.Stderr = opt.Stdout, opt.Stderr
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	e.started = time.Now()
	if err := e.cmd.Start(); err != nil {
		e.shutdown()
		return nil, fmt.Errorf("start function: %w", err)
	}
	go func() { _ = e.cmd.Wait(); close(e.exited) }()
	return e, nil
}

// Ready is closed when the function first asks the runtime API for an invocation: it has
// read its config and connected what it connects at start.
func (e *Emulator) Ready() <-chan struct{} { return e.ready }

// StartupTime is how long the process took from its start to Ready (zero before).
func (e *Emulator) StartupTime() time.Duration {
	select {
	case <-e.ready:
		return e.readyAt.Sub(e.started)
	default:
		return 0
	}
}

// Exited is closed when the function process ends (a config error at start, a crash).
func (e *Emulator) Exited() <-chan struct{} { return e.exited }

// Close stops the function and the gateway.
func (e *Emulator) Close() error {
	e.once.Do(func() {
		close(e.closing)
		if e.cmd.Process != nil {
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
		e.shutdown()
	})
	return nil
}

func (e *Emulator) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.gw.Shutdown(ctx)
	_ = e.rt.Shutdown(ctx)
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "1-" + hex.EncodeToString(b)
}

// Invoke runs one invocation with a raw event payload (for example a timer event) and
// returns the function's result. ok is false when the function reported an error.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (body []byte, ok bool, err error) {
	return e.invoke(ctx, newID(), payload)
}

func (e *Emulator) invoke(ctx context.Context, id string, payload []byte) (body []byte, ok bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inv := &invocation{id: id, payload: payload, deadline: time.Now().Add(e.opt.Timeout), done: make(chan result, 1)}
	e.pending.Store(inv.id, inv)
	defer e.pending.Delete(inv.id)
	ctx, cancel := context.WithDeadline(ctx, inv.deadline)
	defer cancel()
	select {
	case e.queue <- inv:
	case <-e.exited:
		return nil, false, errors.New("function process has exited")
	case <-ctx.Done():
		return nil, false, fmt.Errorf("function did not take the invocation: %w", ctx.Err())
	}
	select {
	case r := <-inv.done:
		return r.body, !r.err, nil
	case <-e.exited:
		return nil, false, errors.New("function process exited during the invocation")
	case <-ctx.Done():
		return nil, false, fmt.Errorf("function timed out: %w", ctx.Err())
	}
}

// TimerEvent returns the payload FC3 sends for a timer trigger.
func TimerEvent(name, payload string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]string{"triggerTime": at.UTC().Format(time.RFC3339), "triggerName": name, "payload": payload})
	return b
}

func (e *Emulator) runtimeAPI(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2020-11-11/runtime/invocation/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case ok && rest == "next" && r.Method == http.MethodGet:
		e.readyOnce.Do(func() { e.readyAt = time.Now(); close(e.ready) })
		select {
		case inv := <-e.queue:
			h := w.Header()
			h.Set("x-fc-request-id", inv.id)
			h.Set("x-fc-function-deadline", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			h.Set("x-fc-function-timeout", strconv.Itoa(int(e.opt.Timeout/time.Second)))
			h.Set("x-fc-function-name", e.opt.FunctionName)
			h.Set("x-fc-function-handler", "main")
			h.Set("x-fc-function-memory", "128")
			h.Set("x-fc-region", e.opt.Region)
			h.Set("x-fc-account-id", e.opt.AccountID)
			h.Set("x-fc-access-key-id", e.opt.Credentials.AccessKeyID)
			h.Set("x-fc-access-key-secret", e.opt.Credentials.AccessKeySecret)
			h.Set("x-fc-security-token", e.opt.Credentials.SecurityToken)
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(inv.payload)
		case <-e.closing:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	case ok && r.Method == http.MethodPost && (strings.HasSuffix(rest, "/response") || strings.HasSuffix(rest, "/error")):
		id, kind, _ := strings.Cut(rest, "/")
		v, found := e.pending.Load(id)
		if !found {
			http.Error(w, "unknown request id", http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		v.(*invocation).done <- result{body: body, err: kind == "error"}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "unknown runtime API call "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// gateway turns an HTTP request into an FC3 HTTP trigger event and the function's answer
// back into a response.
func (e *Emulator) gateway(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20+1))
	if err != nil || len(body) > 32<<20 {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	src := ""
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		src = ap.Addr().Unmap().String()
	}
	if e.opt.TrustSourceHeader {
		if v := r.Header.Get(SourceHeader); v != "" {
			src = v
		}
	}
	r.Header.Del(SourceHeader)
	headers := map[string]string{}
	for k, vs := range r.Header {
		headers[k] = strings.Join(vs, ",") // FC joins repeated values with commas
	}
	if r.Host != "" {
		headers["Host"] = r.Host
	}
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	now := time.Now()
	id := newID()
	ev := map[string]any{
		"version":         "v1",
		"rawPath":         r.URL.EscapedPath(),
		"body":            base64.StdEncoding.EncodeToString(body),
		"isBase64Encoded": true,
		"headers":         headers,
		"queryParameters": query,
		"requestContext": map[string]any{
			"accountId": e.opt.AccountID, "domainName": r.Host, "domainPrefix": strings.Split(r.Host, ".")[0],
			"http": map[string]string{
				"method": r.Method, "path": r.URL.Path, "protocol": r.Proto,
				"sourceIp": src, "userAgent": r.UserAgent(),
			},
			"requestId": id, "time": now.UTC().Format("02/Jan/2006:15:04:05 -0700"), "timeEpoch": strconv.FormatInt(now.UnixMilli(), 10),
		},
	}
	payload, _ := json.Marshal(ev)
	out, ok, err := e.invoke(r.Context(), id, payload)
	w.Header().Set("X-Fc-Request-Id", id)
	if err != nil || !ok {
		msg := "function error"
		if err != nil {
			msg = err.Error()
		}
		w.Header().Set("X-Fc-Error-Type", "UnhandledInvocationError")
		http.Error(w, msg+": "+string(out), http.StatusBadGateway)
		return
	}
	var resp struct {
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
		Body            string            `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode == 0 {
		http.Error(w, "function returned no HTTP trigger response", http.StatusBadGateway)
		return
	}
	b := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			http.Error(w, "function returned a body that is not base64", http.StatusBadGateway)
			return
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, bytes.NewReader(b))
}
