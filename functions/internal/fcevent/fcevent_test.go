package fcevent

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/wire"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want error
		kind string
	}{
		{"http", `{"version":"v1","rawPath":"/v1/ping","body":"{}","isBase64Encoded":false,"headers":{"Authorization":"x","X-Many":"a,b"},"queryParameters":{"a":"1"},"requestContext":{"requestId":"r","http":{"method":"post","path":"/v1/ping","sourceIp":"::ffff:203.0.113.7"}}}`, nil, "http"},
		{"http base64", `{"body":"e30=","isBase64Encoded":true,"requestContext":{"http":{"method":"POST","path":"/v1/ping","sourceIp":"2001:db8::1"}}}`, nil, "http"},
		{"bad base64", `{"body":"e30=!","isBase64Encoded":true,"requestContext":{"http":{"method":"POST","path":"/"}}}`, ErrBadBase64, "http"},
		{"too large", `{"body":"` + strings.Repeat("a", wire.MaxBodyBytes+1) + `","requestContext":{"http":{"method":"POST","path":"/"}}}`, ErrTooLarge, "http"},
		{"too large base64", `{"body":"` + base64.StdEncoding.EncodeToString(make([]byte, wire.MaxBodyBytes+1)) + `","isBase64Encoded":true,"requestContext":{"http":{"method":"POST","path":"/"}}}`, ErrTooLarge, "http"},
		{"timer", `{"triggerTime":"2026-11-28T10:00:00Z","triggerName":"reconcile","payload":"x"}`, nil, "timer"},
		{"neither", `{"hello":"world"}`, ErrBadEvent, ""},
		{"not json", `{`, ErrBadEvent, ""},
		{"array", `[]`, ErrBadEvent, ""},
		{"wrong types", `{"requestContext":{"http":{"method":5}}}`, ErrBadEvent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.raw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			switch ev := ev.(type) {
			case *HTTP:
				if tt.kind != "http" {
					t.Fatalf("got HTTP, want %s", tt.kind)
				}
				if err == nil && (ev.Method != "POST" || ev.Path != "/v1/ping" || !ev.Source.IsValid() || string(ev.Body) != "{}") {
					t.Fatalf("decoded %+v", ev)
				}
			case *Timer:
				if tt.kind != "timer" || ev.TriggerName != "reconcile" {
					t.Fatalf("got timer %+v, want %s", ev, tt.kind)
				}
			case nil:
				if tt.kind != "" {
					t.Fatalf("got nothing, want %s", tt.kind)
				}
			}
		})
	}
	ev, _ := Decode([]byte(`{"headers":{"X-Many":"a,b"},"requestContext":{"http":{"method":"GET","path":"/healthz","sourceIp":"::ffff:203.0.113.7"}}}`))
	h := ev.(*HTTP)
	if h.Source.String() != "203.0.113.7" || h.Header.Get("x-many") != "a,b" {
		t.Fatalf("source %v header %q: want the unmapped IPv4 and the comma-joined header", h.Source, h.Header.Get("x-many"))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"body":"e30=","isBase64Encoded":true,"requestContext":{"http":{"method":"POST","path":"/v1/ping","sourceIp":"203.0.113.7"}}}`))
	f.Add([]byte(`{"triggerTime":"t","triggerName":"n"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Decode(raw)
		if h, ok := ev.(*HTTP); ok && len(h.Body) > wire.MaxBodyBytes {
			t.Fatalf("accepted a %d-byte body", len(h.Body))
		}
		if err == nil && ev == nil {
			t.Fatal("nil event without an error")
		}
	})
}
