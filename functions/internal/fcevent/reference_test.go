package fcevent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/wire"
)

// refDecode is Decode as it was written on encoding/json, kept to hold the hand-written
// reader to the same answers.
func refDecode(raw []byte) (Event, error) {
	var ev refEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Event{}, ErrBadEvent
	}
	switch {
	case ev.RequestContext != nil:
		h, err := refHTTP(&ev)
		return Event{HTTP: h}, err
	case ev.TriggerTime != nil:
		return Event{Timer: &Timer{TriggerName: ev.TriggerName, TriggerTime: *ev.TriggerTime, Payload: ev.Payload}}, nil
	default:
		return Event{}, ErrBadEvent
	}
}

type refEvent struct {
	RawPath         string            `json:"rawPath"`
	Body            refBody           `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Headers         map[string]string `json:"headers"`
	QueryParameters map[string]string `json:"queryParameters"`
	RequestContext  *struct {
		RequestID string `json:"requestId"`
		HTTP      struct {
			Method    string `json:"method"`
			Path      string `json:"path"`
			SourceIP  string `json:"sourceIp"`
			UserAgent string `json:"userAgent"`
		} `json:"http"`
	} `json:"requestContext"`
	TriggerTime *string `json:"triggerTime"`
	TriggerName string  `json:"triggerName"`
	Payload     string  `json:"payload"`
}

type refBody struct {
	s        string
	tooLarge bool
}

func (b *refBody) UnmarshalJSON(lit []byte) error {
	switch {
	case string(lit) == "null":
		return nil
	case len(lit) > maxBodyLiteral && lit[0] == '"':
		b.tooLarge = true
		return nil
	}
	return json.Unmarshal(lit, &b.s)
}

func refHTTP(ev *refEvent) (*HTTP, error) {
	rc := ev.RequestContext
	h := &HTTP{RequestID: rc.RequestID, Method: strings.ToUpper(rc.HTTP.Method), Path: rc.HTTP.Path,
		Header: make(http.Header, len(ev.Headers)), UserAgent: rc.HTTP.UserAgent}
	if h.Path == "" {
		h.Path = ev.RawPath
	}
	if i := strings.IndexByte(h.Path, '?'); i >= 0 {
		h.Path = h.Path[:i]
	}
	if a, err := netip.ParseAddr(rc.HTTP.SourceIP); err == nil {
		h.Source = a.Unmap()
	}
	for k, v := range ev.Headers {
		h.Header[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
	}
	for k, v := range ev.QueryParameters {
		if h.Query == nil {
			h.Query = map[string][]string{}
		}
		h.Query.Set(k, v)
	}
	if ev.Body.tooLarge {
		return h, ErrTooLarge
	}
	body := ev.Body.s
	if ev.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(body)) > wire.MaxBodyBytes+3 {
			return h, ErrTooLarge
		}
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return h, ErrBadBase64
		}
		h.Body = b
	} else {
		h.Body = []byte(body)
	}
	if len(h.Body) > wire.MaxBodyBytes {
		h.Body = nil
		return h, ErrTooLarge
	}
	return h, nil
}

// sameDecode fails t unless Decode and refDecode give raw the same answer. Headers whose
// keys collide once canonical are left out: encoding/json's map gives them in any order.
func sameDecode(t *testing.T, raw []byte) {
	t.Helper()
	got, gotErr := Decode(raw)
	want, wantErr := refDecode(raw)
	for _, e := range []error{ErrBadEvent, ErrBadBase64, ErrTooLarge, nil} {
		if (errors.Is(gotErr, e) || gotErr == e) != (errors.Is(wantErr, e) || wantErr == e) {
			t.Fatalf("%q: error %v, encoding/json's %v", raw, gotErr, wantErr)
		}
	}
	if (got.HTTP == nil) != (want.HTTP == nil) || !reflect.DeepEqual(got.Timer, want.Timer) {
		t.Fatalf("%q: got %+v %+v, encoding/json's %+v %+v", raw, got.HTTP, got.Timer, want.HTTP, want.Timer)
	}
	if got.HTTP == nil {
		return
	}
	g, w := *got.HTTP, *want.HTTP
	if len(g.Header) != len(w.Header) {
		t.Fatalf("%q: headers %v, encoding/json's %v", raw, g.Header, w.Header)
	}
	if collide(raw) {
		g.Header, w.Header = nil, nil
	}
	if len(g.Body) == 0 && len(w.Body) == 0 {
		g.Body, w.Body = nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%q:\n got %+v\nwant %+v", raw, g, w)
	}
}

// collide tells whether two header keys of raw are one canonical key.
func collide(raw []byte) bool {
	var ev refEvent
	_ = json.Unmarshal(raw, &ev)
	seen := map[string]bool{}
	for k := range maps.Keys(ev.Headers) {
		c := textproto.CanonicalMIMEHeaderKey(k)
		if seen[c] {
			return true
		}
		seen[c] = true
	}
	return false
}

func TestDecodeMatchesJSON(t *testing.T) {
	for _, raw := range []string{
		`{"version":"v1","rawPath":"/v1/ping","body":"{}","isBase64Encoded":false,"headers":{"Authorization":"x","content-type":"a,b"},"queryParameters":{"a":"1","b":"2"},"requestContext":{"requestId":"r","domainName":"d","timeEpoch":1700000000000,"http":{"method":"post","path":"/v1/ping?x","protocol":"HTTP/1.1","sourceIp":"::ffff:203.0.113.7","userAgent":"ua"}}}`,
		` { "RAWPATH" : "/p" , "Body" : "e30=" , "isbase64encoded" : true , "requestContext" : { } } `,
		`{"raw\u0050ath":"/\u00e9\ud83d\ude00","body":"\"q\"","requestContext":{"http":{"method":"g\u0045t"}}}`,
		`{"body":"\xff\xfe","requestContext":{"http":{"path":"\xc3"}}}`,
		`{"headers":{"A":"1"},"headers":{"B":"2"},"requestContext":{}}`,
		`{"headers":{"A":"1"},"headers":null,"requestContext":{}}`,
		`{"headers":{"A":null},"queryParameters":null,"requestContext":{}}`,
		`{"requestContext":{"requestId":"a"},"requestContext":null}`,
		`{"requestContext":{"requestId":"a"},"requestContext":null,"requestContext":{}}`,
		`{"requestContext":{"requestId":"a"},"requestContext":{"http":null}}`,
		`{"requestContext":{"http":[]}}`,
		`{"requestContext":[],"triggerTime":"t"}`,
		`{"requestContext":5}`,
		`{"triggerTime":"t","triggerTime":null}`,
		`{"triggerTime":null,"triggerTime":"t","triggerName":"n","payload":"p","extra":[1,{"a":[true,false,null,-1.5e3]}]}`,
		`{"body":"` + strings.Repeat("a", maxBodyLiteral) + `","body":"{}","requestContext":{}}`,
		`{"body":"{}","body":null,"requestContext":{}}`,
		`{"body":5,"requestContext":{}}`,
		`{"body":[1],"requestContext":{}}`,
		`{"isBase64Encoded":"true","requestContext":{}}`,
		`{"isBase64Encoded":null,"requestContext":{}}`,
		`{"headers":[],"requestContext":{}}`,
		`{"headers":{"a":1},"requestContext":{}}`,
		`{"requestContext":{"http":{"method":5}}}`,
		`{"ſourceIp":"x","requestContext":{"http":{"ſourceIp":"192.0.2.1"}}}`,
		`{"requestContext":{"http":{"sourceIp":"192.0.2.1"}},"headers":{"x-a":"1","X-A":"2"}}`,
		`null`, `[]`, `"x"`, `5`, `{`, `{}`, `{"a":}`, "{\"a\":\"\x01\"}",
	} {
		sameDecode(t, []byte(raw))
	}
}

func FuzzDecodeMatchesJSON(f *testing.F) {
	f.Add([]byte(`{"version":"v1","rawPath":"/v1/ping","body":"{}","isBase64Encoded":false,"headers":{"Authorization":"x"},"queryParameters":{"a":"1"},"requestContext":{"requestId":"r","http":{"method":"post","path":"/v1/ping","sourceIp":"203.0.113.7"}}}`))
	f.Add([]byte(`{"body":"e30=","isBase64Encoded":true,"requestContext":{"http":{"method":"POST","path":"/v1/ping","sourceIp":"2001:db8::1"}}}`))
	f.Add([]byte(`{"triggerTime":"t","triggerName":"n","payload":"\u0041"}`))
	f.Fuzz(func(t *testing.T, raw []byte) { sameDecode(t, raw) })
}
