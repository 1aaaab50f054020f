package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

const testConfig = `
redis: { url: "memory://" }
sites:
  hz: { key: "hz-secret-0123456789abcdef" }
  bj: { key: "bj-secret-0123456789abcdef" }
`

func newTestApp(t testing.TB, st func(*config.Config) store.Store, now func() time.Time) *App {
	t.Helper()
	cfg, err := config.Parse([]byte(testConfig), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s store.Store = store.NewMemory(StoreOptions(cfg))
	if st != nil {
		s = st(cfg)
	}
	return NewWith(cfg, s, slog.New(slog.DiscardHandler), now, api.Options{})
}

// event builds an FC3 HTTP trigger event the way the gateway sends it.
func event(method, path, authz, body string, b64 bool, source string) json.RawMessage {
	if b64 {
		body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	ev := map[string]any{
		"version": "v1", "rawPath": path, "body": body, "isBase64Encoded": b64,
		"headers":         map[string]string{"Authorization": authz, "Content-Type": "application/json"},
		"queryParameters": map[string]string{},
		"requestContext": map[string]any{"requestId": "req-1", "http": map[string]string{
			"method": method, "path": path, "sourceIp": source, "protocol": "HTTP/1.1"}},
	}
	b, _ := json.Marshal(ev)
	return b
}

func answer(t testing.TB, out any) (int, string) {
	t.Helper()
	r, ok := out.(events.HTTPTriggerResponse)
	if !ok {
		t.Fatalf("handler returned %T, want an HTTP trigger response", out)
	}
	body := r.Body
	if r.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	return r.StatusCode, body
}

func TestHandleEvents(t *testing.T) {
	now := time.Now()
	a := newTestApp(t, nil, func() time.Time { return now })
	sign := func(body string) string {
		return auth.Header("hz", []byte("hz-secret-0123456789abcdef"), "POST", wire.PathPing, now.Unix(), auth.NewNonce(), []byte(body))
	}
	tests := []struct {
		name   string
		ev     json.RawMessage
		status int
		want   string
	}{
		{"plain body", event("POST", "/v1/ping", sign(`{}`), `{}`, false, "203.0.113.7"), 200, `"ip":"203.0.113.7"`},
		{"base64 body", event("POST", "/v1/ping", sign(`{"agent":"x"}`), `{"agent":"x"}`, true, "203.0.113.7"), 200, `"ip":"203.0.113.7"`},
		{"base64 that does not decode", json.RawMessage(strings.Replace(string(event("POST", "/v1/ping", sign(`{}`), `{}`, true, "203.0.113.7")), `"e30="`, `"e30=!!"`, 1)), 400, `"bad_body"`},
		{"base64 body over 8 KiB", event("POST", "/v1/ping", sign(""), strings.Repeat("x", wire.MaxBodyBytes+1), true, "203.0.113.7"), 413, `"body_too_large"`},
		{"plain body over 8 KiB", event("POST", "/v1/ping", sign(""), strings.Repeat("x", wire.MaxBodyBytes+1), false, "203.0.113.7"), 413, `"body_too_large"`},
		{"lower-case method", event("post", "/v1/ping", sign(`{}`), `{}`, false, "203.0.113.7"), 200, `"site":"hz"`},
		{"no source address", event("POST", "/v1/ping", sign(`{}`), `{}`, false, ""), 400, "no source address"},
		{"path with query", event("GET", "/healthz?x=1", "", "", false, "203.0.113.7"), 200, `"ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh app per case: each runs alone and in any order.
			out, err := newTestApp(t, nil, func() time.Time { return now }).Handle(context.Background(), tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			code, body := answer(t, out)
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("got %d %s, want %d containing %s", code, body, tt.status, tt.want)
			}
		})
	}
	if _, err := a.Handle(context.Background(), json.RawMessage(`{"hello":1}`)); err == nil {
		t.Fatal("an unrecognised event was accepted")
	}
	if _, err := a.Handle(context.Background(), json.RawMessage(`[`)); err == nil {
		t.Fatal("a broken event was accepted")
	}
	out, err := a.Handle(context.Background(), json.RawMessage(`{"triggerTime":"2026-11-28T10:00:00Z","triggerName":"reconcile","payload":""}`))
	if err != nil || out == nil {
		t.Fatalf("timer event: %v, %v", out, err)
	}
}

func TestStoreDownIs503(t *testing.T) {
	now := time.Now()
	a := newTestApp(t, func(cfg *config.Config) store.Store {
		s, err := store.NewRedis(context.Background(), "redis://127.0.0.1:1/0", StoreOptions(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func() time.Time { return now })
	h := auth.Header("hz", []byte("hz-secret-0123456789abcdef"), "POST", wire.PathPing, now.Unix(), auth.NewNonce(), []byte(`{}`))
	out, _ := a.Handle(context.Background(), event("POST", "/v1/ping", h, `{}`, false, "203.0.113.7"))
	if code, body := answer(t, out); code != http.StatusServiceUnavailable || !strings.Contains(body, "store_unavailable") {
		t.Fatalf("got %d %s, want 503 store_unavailable", code, body)
	}
}

// TestOpenStore: memory:// opens the memory store and state, and refuses to start inside
// Function Compute.
func TestOpenStore(t *testing.T) {
	cfg, err := config.Parse([]byte(testConfig), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, state, err := openStore(context.Background(), cfg); err != nil || st == nil || state == nil {
		t.Fatalf("outside FC: %T, %T, %v", st, state, err)
	}
	cfg.InsideFC = true
	if _, _, err := openStore(context.Background(), cfg); !errors.Is(err, store.ErrInsideFC) {
		t.Fatalf("inside FC: got %v, want ErrInsideFC", err)
	}
}
