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
	"unicode/utf8"

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

// Event is a decoded invocation: exactly one of HTTP and Timer is set.
type Event struct {
	HTTP  *HTTP
	Timer *Timer
}

// Decode parses one invocation payload into an HTTP or a Timer event. For an HTTP event
// whose body is broken (ErrBadBase64, ErrTooLarge) it returns the HTTP event without its
// body together with the error, so the caller can answer it.
//
// The payload is read in one pass over the fixed shape of the two events, with the names
// and types encoding/json would match (keys case-insensitively, the last of a repeated
// key, null leaving a field unset): encoding/json's maps of headers cost some thirty
// allocations an event, this a handful. Strings with escapes or non-ASCII bytes are
// unquoted by encoding/json (TestDecodeMatchesJSON holds the two to the same answers).
func Decode(raw []byte) (Event, error) {
	if !json.Valid(raw) {
		return Event{}, fmt.Errorf("%w: not JSON", ErrBadEvent)
	}
	d := decoder{raw: raw}
	ev, err := d.event()
	if err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	switch {
	case ev.hasContext:
		h, err := decodeHTTP(&ev)
		return Event{HTTP: h}, err
	case ev.triggerTime != nil:
		return Event{Timer: &Timer{TriggerName: ev.triggerName, TriggerTime: *ev.triggerTime, Payload: ev.payload}}, nil
	default:
		return Event{}, ErrBadEvent
	}
}

// event is the union of the HTTP trigger event and the timer event (the JSON names of the
// SDK's events.HTTPTriggerEvent and events.TimerEvent): requestContext marks an HTTP
// event, triggerTime a timer event. The body is measured before it is decoded.
type event struct {
	rawPath         string
	body            string
	bodyTooLarge    bool
	isBase64Encoded bool
	headers         []string // key, value, …
	query           []string // key, value, …
	requestContext  requestContext
	hasContext      bool
	triggerTime     *string
	triggerName     string
	payload         string
}

type requestContext struct {
	requestID, method, path, sourceIP, userAgent string
}

// maxBodyLiteral is the longest JSON string that can still hold an acceptable body: the
// base64 form of MaxBodyBytes with every character escaped as \uXXXX, and its quotes.
var maxBodyLiteral = 6*base64.StdEncoding.EncodedLen(wire.MaxBodyBytes) + 2

// smallEvent is the largest payload copied whole, once, so that its strings are slices of
// the copy; a larger one (an oversize body) has each string copied on its own, and its
// body never.
const smallEvent = 64 << 10

// errType is a JSON value of the wrong type for its field (encoding/json's
// UnmarshalTypeError).
var errType = errors.New("value of the wrong type")

// decoder reads a payload that json.Valid accepted.
type decoder struct {
	raw  []byte
	copy string // raw as a string, once needed (small payloads)
}

// str returns raw[a:b] as a string.
func (d *decoder) str(a, b int) string {
	if len(d.raw) > smallEvent {
		return string(d.raw[a:b])
	}
	if d.copy == "" {
		d.copy = string(d.raw)
	}
	return d.copy[a:b]
}

func (d *decoder) ws(i int) int {
	for i < len(d.raw) && (d.raw[i] == ' ' || d.raw[i] == '\t' || d.raw[i] == '\n' || d.raw[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string literal at i, and whether its content is
// plain: no escapes, valid UTF-8, so the bytes are the string.
func (d *decoder) stringEnd(i int) (int, bool) {
	plain, ascii := true, true
	j := i + 1
	for d.raw[j] != '"' {
		switch c := d.raw[j]; {
		case c == '\\':
			plain = false
			j += 2
			continue
		case c >= 0x80:
			ascii = false
		}
		j++
	}
	if !ascii && plain {
		plain = utf8.Valid(d.raw[i+1 : j])
	}
	return j + 1, plain
}

// skip returns the index after the value at i.
func (d *decoder) skip(i int) int {
	switch d.raw[i] {
	case '"':
		end, _ := d.stringEnd(i)
		return end
	case '{', '[':
		depth := 0
		for {
			switch d.raw[i] {
			case '"':
				i, _ = d.stringEnd(i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default: // a number, true, false or null
		for i < len(d.raw) && !strings.ContainsRune(",}] \t\n\r", rune(d.raw[i])) {
			i++
		}
		return i
	}
}

// stringValue decodes the value at i for a string field: a string sets *dst, null leaves
// it. It returns the index after the value.
func (d *decoder) stringValue(i int, dst *string) (int, error) {
	switch d.raw[i] {
	case 'n':
		return i + 4, nil
	case '"':
		end, plain := d.stringEnd(i)
		if plain {
			*dst = d.str(i+1, end-1)
			return end, nil
		}
		s, err := unquote(d.raw[i:end])
		*dst = s
		return end, err
	}
	return 0, errType
}

// unquote decodes a string literal with escapes or non-ASCII bytes as encoding/json does
// (invalid UTF-8 becomes U+FFFD). Apart, so that its result escaping to the heap does not
// make every string field's do.
func unquote(lit []byte) (string, error) {
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// object calls field for each member of the object at i (null: none) with the key and the
// index of its value; field returns the index after the value. It returns the index after
// the object.
func (d *decoder) object(i int, field func(key string, v int) (int, error)) (int, error) {
	switch d.raw[i] {
	case 'n':
		return i + 4, nil
	case '{':
	default:
		return 0, errType
	}
	i = d.ws(i + 1)
	if d.raw[i] == '}' {
		return i + 1, nil
	}
	for {
		var key string
		end, err := d.stringValue(i, &key)
		if err != nil {
			return 0, err
		}
		if i, err = field(key, d.ws(d.ws(end)+1)); err != nil { // past the ':'
			return 0, err
		}
		i = d.ws(i)
		if d.raw[i] == '}' {
			return i + 1, nil
		}
		i = d.ws(i + 1) // past the ','
	}
}

// is matches a key to a field name as encoding/json does.
func is(key, name string) bool { return key == name || strings.EqualFold(key, name) }

// pairs decodes an object of strings into key, value pairs (a null value is ""), after
// those of the same key before (a map decoded into again); null drops them.
func (d *decoder) pairs(i int, dst *[]string) (int, error) {
	if d.raw[i] == 'n' {
		*dst = nil
	}
	return d.object(i, func(k string, v int) (int, error) {
		var s string
		end, err := d.stringValue(v, &s)
		if *dst == nil {
			*dst = make([]string, 0, 8) // room for the four headers a ping has
		}
		*dst = append(*dst, k, s)
		return end, err
	})
}

func (d *decoder) event() (event, error) {
	var ev event
	_, err := d.object(d.ws(0), func(k string, v int) (int, error) {
		switch {
		case is(k, "rawPath"):
			return d.stringValue(v, &ev.rawPath)
		case is(k, "body"):
			switch {
			case d.raw[v] == '"' && d.skip(v)-v > maxBodyLiteral:
				ev.bodyTooLarge = true
				return d.skip(v), nil
			case d.raw[v] == 'n':
				return v + 4, nil
			}
			return d.stringValue(v, &ev.body)
		case is(k, "isBase64Encoded"):
			switch d.raw[v] {
			case 't':
				ev.isBase64Encoded = true
			case 'f':
				ev.isBase64Encoded = false
			case 'n':
			default:
				return 0, errType
			}
			return d.skip(v), nil
		case is(k, "headers"):
			return d.pairs(v, &ev.headers)
		case is(k, "queryParameters"):
			return d.pairs(v, &ev.query)
		case is(k, "requestContext"):
			switch {
			case d.raw[v] == 'n': // a nil pointer in encoding/json's terms
				ev.requestContext, ev.hasContext = requestContext{}, false
			case d.raw[v] == '{':
				ev.hasContext = true
			}
			rc := &ev.requestContext
			return d.object(v, func(k string, v int) (int, error) {
				switch {
				case is(k, "requestId"):
					return d.stringValue(v, &rc.requestID)
				case is(k, "http"):
					return d.object(v, func(k string, v int) (int, error) {
						switch {
						case is(k, "method"):
							return d.stringValue(v, &rc.method)
						case is(k, "path"):
							return d.stringValue(v, &rc.path)
						case is(k, "sourceIp"):
							return d.stringValue(v, &rc.sourceIP)
						case is(k, "userAgent"):
							return d.stringValue(v, &rc.userAgent)
						}
						return d.skip(v), nil
					})
				}
				return d.skip(v), nil
			})
		case is(k, "triggerTime"):
			if d.raw[v] == 'n' {
				ev.triggerTime = nil
				return v + 4, nil
			}
			var t string
			end, err := d.stringValue(v, &t)
			ev.triggerTime = &t
			return end, err
		case is(k, "triggerName"):
			return d.stringValue(v, &ev.triggerName)
		case is(k, "payload"):
			return d.stringValue(v, &ev.payload)
		}
		return d.skip(v), nil
	})
	return ev, err
}

func decodeHTTP(ev *event) (*HTTP, error) {
	rc := &ev.requestContext
	h := &HTTP{
		RequestID: rc.requestID,
		Method:    strings.ToUpper(rc.method),
		Path:      rc.path,
		Header:    make(http.Header, len(ev.headers)/2),
		UserAgent: rc.userAgent,
	}
	if h.Path == "" {
		h.Path = ev.rawPath
	}
	if i := strings.IndexByte(h.Path, '?'); i >= 0 {
		h.Path = h.Path[:i]
	}
	if a, err := netip.ParseAddr(rc.sourceIP); err == nil {
		h.Source = a.Unmap()
	}
	for i := 0; i < len(ev.headers); i += 2 {
		// A repeated key: the last one, as in a map; each value its own slice of
		// ev.headers, so no further allocation.
		h.Header[textproto.CanonicalMIMEHeaderKey(ev.headers[i])] = ev.headers[i+1 : i+2 : i+2]
	}
	if len(ev.query) > 0 {
		h.Query = make(url.Values, len(ev.query)/2)
		for i := 0; i < len(ev.query); i += 2 {
			h.Query.Set(ev.query[i], ev.query[i+1])
		}
	}
	if ev.bodyTooLarge {
		return h, ErrTooLarge
	}
	body := ev.body
	if ev.isBase64Encoded {
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
		Body:            encodeBase64(r.Body),
	}
}

// encodeBase64 is base64.StdEncoding.EncodeToString(b) in one allocation (the string's),
// not two: the body is encoded in pieces of a multiple of 3 bytes through a buffer on the
// stack.
func encodeBase64(b []byte) string {
	enc := base64.StdEncoding
	var sb strings.Builder
	sb.Grow(enc.EncodedLen(len(b)))
	var buf [1024]byte
	for len(b) > 0 {
		n := min(len(b), 768) // 768 bytes are 1,024 of base64, without padding
		enc.Encode(buf[:], b[:n])
		sb.Write(buf[:enc.EncodedLen(n)])
		b = b[n:]
	}
	return sb.String()
}
