package fcevent

import (
	"encoding/base64"
	"errors"
	"runtime"
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
			switch {
			case ev.HTTP != nil:
				if tt.kind != "http" {
					t.Fatalf("got HTTP, want %s", tt.kind)
				}
				if h := ev.HTTP; err == nil && (h.Method != "POST" || h.Path != "/v1/ping" || !h.Source.IsValid() || string(h.Body) != "{}") {
					t.Fatalf("decoded %+v", h)
				}
			case ev.Timer != nil:
				if tt.kind != "timer" || ev.Timer.TriggerName != "reconcile" {
					t.Fatalf("got timer %+v, want %s", ev.Timer, tt.kind)
				}
			default:
				if tt.kind != "" {
					t.Fatalf("got nothing, want %s", tt.kind)
				}
			}
		})
	}
	ev, _ := Decode([]byte(`{"headers":{"X-Many":"a,b"},"requestContext":{"http":{"method":"GET","path":"/healthz","sourceIp":"::ffff:203.0.113.7"}}}`))
	h := ev.HTTP
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
		if h := ev.HTTP; h != nil && len(h.Body) > wire.MaxBodyBytes {
			t.Fatalf("accepted a %d-byte body", len(h.Body))
		}
		if err == nil && (ev.HTTP == nil) == (ev.Timer == nil) {
			t.Fatal("nil event without an error")
		}
	})
}

// TestOversizeBodyNotDecoded proves an oversize body is refused before it is decoded: a
// 24 MiB body must not cost a second 24 MiB (a 128 MB function holds the event already).
// Decoding it used to allocate the body string, then its bytes. 4 MiB keeps the test quick
// under the race detector and shows the same: no copy of the body.
func TestOversizeBodyNotDecoded(t *testing.T) {
	const size = 4 << 20
	head := `{"version":"v1","rawPath":"/v1/ping","headers":{"Authorization":"x"},"requestContext":{"requestId":"r","http":{"method":"POST","path":"/v1/ping","sourceIp":"203.0.113.7"}},`
	tests := []struct {
		name, body string
		b64        bool
	}{
		{"plain", strings.Repeat("a", size), false},
		{"escaped", strings.Repeat(`\u0041`, size/6), false},
		{"base64", base64.StdEncoding.EncodeToString(make([]byte, size*3/4)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(head + `"isBase64Encoded":` + map[bool]string{true: "true", false: "false"}[tt.b64] + `,"body":"` + tt.body + `"}`)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ev, err := Decode(raw)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error = %v, want ErrTooLarge", err)
			}
			h := ev.HTTP
			if h == nil || h.Body != nil || h.Path != "/v1/ping" || h.Method != "POST" || h.RequestID != "r" || h.Source.String() != "203.0.113.7" {
				t.Fatalf("event = %+v, want the request without its body (to answer 413)", ev)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Fatalf("decoding a %d MiB event allocated %d KiB, want under 1 MiB", len(raw)>>20, got>>10)
			}
		})
	}
}

// TestBodyLimitIsExact checks the boundary on the decoded size, for escaped and base64
// bodies alike: MaxBodyBytes passes, one more byte is refused.
func TestBodyLimitIsExact(t *testing.T) {
	ev := func(body string, b64 bool) string {
		return `{"isBase64Encoded":` + map[bool]string{true: "true", false: "false"}[b64] + `,"body":"` + body + `","requestContext":{"http":{"method":"POST","path":"/v1/ping"}}}`
	}
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"plain at the limit", ev(strings.Repeat("a", wire.MaxBodyBytes), false), nil},
		{"plain over", ev(strings.Repeat("a", wire.MaxBodyBytes+1), false), ErrTooLarge},
		{"escaped at the limit", ev(strings.Repeat(`\u0041`, wire.MaxBodyBytes), false), nil},
		{"escaped over", ev(strings.Repeat(`\u0041`, wire.MaxBodyBytes+1), false), ErrTooLarge},
		{"base64 at the limit", ev(base64.StdEncoding.EncodeToString(make([]byte, wire.MaxBodyBytes)), true), nil},
		{"base64 over", ev(base64.StdEncoding.EncodeToString(make([]byte, wire.MaxBodyBytes+1)), true), ErrTooLarge},
		{"not a string", `{"body":5,"requestContext":{"http":{"method":"POST","path":"/v1/ping"}}}`, ErrBadEvent},
		{"null body", `{"body":null,"requestContext":{"http":{"method":"POST","path":"/v1/ping"}}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.raw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if h := got.HTTP; h != nil && err == nil && len(h.Body) > wire.MaxBodyBytes {
				t.Fatalf("accepted %d bytes", len(h.Body))
			}
		})
	}
}

// TestDecodeAllocs caps what decoding a ping's event allocates: the payload's copy (its
// strings are slices of it), the event's request context, the header pairs and map, the
// HTTP value and the body.
func TestDecodeAllocs(t *testing.T) {
	raw := []byte(`{"version":"v1","rawPath":"/v1/ping","body":"{}","isBase64Encoded":false,"headers":{"Authorization":"PPTER-HMAC-SHA256 site=hz, ts=1700000000, nonce=n","Content-Type":"application/json"},"queryParameters":{},"requestContext":{"requestId":"req-1","http":{"method":"POST","path":"/v1/ping","protocol":"HTTP/1.1","sourceIp":"203.0.113.7"}}}`)
	got := testing.AllocsPerRun(100, func() {
		if ev, err := Decode(raw); err != nil || ev.HTTP == nil {
			t.Fatal(ev, err)
		}
	})
	if got > 6+raceAllocs {
		t.Errorf("Decode allocates %v times, want at most %d", got, 6+raceAllocs)
	}
}

func TestEncodeBase64(t *testing.T) {
	b := make([]byte, 3000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	for n := range len(b) {
		if got, want := encodeBase64(b[:n]), base64.StdEncoding.EncodeToString(b[:n]); got != want {
			t.Fatalf("%d bytes: %q, want %q", n, got, want)
		}
	}
	if got := testing.AllocsPerRun(100, func() { _ = encodeBase64(b) }); got != 1 {
		t.Errorf("encodeBase64 allocates %v times, want 1", got)
	}
}
