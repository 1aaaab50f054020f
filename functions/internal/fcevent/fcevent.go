// Package fcevent decodes the events Function Compute 3 hands to a go1 function — HTTP
// trigger events and timer events — into plain Go values, and encodes HTTP answers back.
// It checks what the gateway may send: base64 bodies, comma-joined repeated headers, the
// source address in requestContext.http.sourceIp (the only address ppter trusts).
package fcevent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ppter/ppter/shared/wire"
)

// Errors returned (wrapped) by Decode.
var (
	// ErrBadEvent means the payload is neither an HTTP trigger event nor a timer event.
	ErrBadEvent = errors.New("unrecognised event")
	// ErrBadBase64 means isBase64Encoded was true but the body does not decode.
	ErrBadBase64 = errors.New("body is not valid base64")
	// ErrTooLarge means the body exceeds wire.MaxBodyBytes.
	ErrTooLarge = errors.New("body too large")
)

// HTTP is a decoded HTTP trigger event. Header keys are canonical; Query holds each
// parameter's value as the gateway gave it.
type HTTP struct {
	RequestID string
	Method    string
	Path      string
	Query     url.Values
	Header    http.Header
	Body      []byte
	// Source is the caller's address as the FC gateway saw it; invalid when absent.
	Source    netip.Addr
	UserAgent string
}

// Timer is a decoded timer trigger event.
type Timer struct {
	TriggerName string
	TriggerTime string
	Payload     string
}

// Decode parses one invocation payload into *HTTP or *Timer. For an HTTP event whose body
// is broken (ErrBadBase64, ErrTooLarge) it returns the *HTTP without its body together with
// the error, so the caller can answer it.
func Decode(raw []byte) (any, error) {
	// One pass over the payload into plain fields: the SDK's event types hold a pointer
	// per field, and a probe followed by a second decode read every event twice.
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	switch {
	case ev.RequestContext != nil:
		return decodeHTTP(&ev)
	case ev.TriggerTime != nil:
		return &Timer{TriggerName: ev.TriggerName, TriggerTime: *ev.TriggerTime, Payload: ev.Payload}, nil
	default:
		return nil, ErrBadEvent
	}
}

// event is the union of the HTTP trigger event and the timer event (the JSON names of the
// SDK's events.HTTPTriggerEvent and events.TimerEvent): requestContext marks an HTTP
// event, triggerTime a timer event. The body is measured before it is decoded.
type event struct {
	RawPath         string            `json:"rawPath"`
	Body            boundedBody       `json:"body"`
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

// maxBodyLiteral is the longest JSON string that can still hold an acceptable body: the
// base64 form of MaxBodyBytes with every character escaped as \uXXXX, and its quotes.
var maxBodyLiteral = 6*base64.StdEncoding.EncodedLen(wire.MaxBodyBytes) + 2

// boundedBody is the body's JSON string, decoded only when it is short enough to hold an
// acceptable body, so an oversize event costs no second copy of its body.
type boundedBody struct {
	s        string
	tooLarge bool
}

// UnmarshalJSON implements json.Unmarshaler. lit is a slice of the event, not a copy.
func (b *boundedBody) UnmarshalJSON(lit []byte) error {
	switch {
	case string(lit) == "null":
		return nil
	case len(lit) > maxBodyLiteral && lit[0] == '"':
		b.tooLarge = true
		return nil
	}
	return json.Unmarshal(lit, &b.s)
}

func decodeHTTP(ev *event) (*HTTP, error) {
	rc := ev.RequestContext
	h := &HTTP{
		RequestID: rc.RequestID,
		Method:    strings.ToUpper(rc.HTTP.Method),
		Path:      rc.HTTP.Path,
		Query:     url.Values{},
		Header:    make(http.Header, len(ev.Headers)),
		UserAgent: rc.HTTP.UserAgent,
	}
	if h.Path == "" {
		h.Path = ev.RawPath
	}
	if i := strings.IndexByte(h.Path, '?'); i >= 0 {
		h.Path = h.Path[:i]
	}
	if a, err := netip.ParseAddr(rc.HTTP.SourceIP); err == nil {
		h.Source = a.Unmap()
	}
	vals := make([]string, 0, len(ev.Headers)) // one backing array for every header's value
	for k, v := range ev.Headers {
		vals = append(vals, v)
		h.Header[textproto.CanonicalMIMEHeaderKey(k)] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	for k, v := range ev.QueryParameters {
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

// Response is an HTTP answer.
type Response struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Encode returns the HTTP trigger response for r. Bodies are sent as base64 so any bytes
// survive the gateway.
func Encode(r Response) events.HTTPTriggerResponse {
	return events.HTTPTriggerResponse{
		StatusCode:      r.Status,
		Headers:         r.Header,
		IsBase64Encoded: true,
		Body:            base64.StdEncoding.EncodeToString(r.Body),
	}
}
