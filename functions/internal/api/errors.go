package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ppter/ppter/functions/internal/fcevent"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// apiError is an answer other than success: a code of wire (whose HTTP status is in
// httpStatus), a message and the headers that go with it.
type apiError struct {
	code   string
	msg    string
	header map[string]string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func fail(code, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// with returns a copy of e that carries the header k: v.
func (e *apiError) with(k, v string) *apiError {
	c := *e
	c.header = map[string]string{k: v}
	return &c
}

// httpStatus is the HTTP status of each error code: the one place errors meet statuses.
var httpStatus = map[string]int{
	wire.CodeBadRequest:       http.StatusBadRequest,
	wire.CodeBadJSON:          http.StatusBadRequest,
	wire.CodeBadBody:          http.StatusBadRequest,
	wire.CodeUnauthorized:     http.StatusUnauthorized,
	wire.CodeStaleTimestamp:   http.StatusUnauthorized,
	wire.CodeReplayed:         http.StatusConflict,
	wire.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	wire.CodeTooManyFailures:  http.StatusTooManyRequests,
	wire.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	wire.CodeNotFound:         http.StatusNotFound,
	wire.CodeUnavailable:      http.StatusServiceUnavailable,
	wire.CodeInternal:         http.StatusInternalServerError,
	wire.CodeUnknownLine:      http.StatusBadRequest,
}

// siteChallenge is the WWW-Authenticate header of a refused site credential.
const siteChallenge = auth.Scheme + `, Basic realm="ppter"`

// The API's answers other than success.
var (
	errNotFound       = fail(wire.CodeNotFound, "no such endpoint")
	errTooLarge       = fail(wire.CodeTooLarge, "the body is larger than %d bytes", wire.MaxBodyBytes)
	errBase64         = fail(wire.CodeBadBody, "the body is marked base64 but does not decode")
	errUnreadable     = fail(wire.CodeBadRequest, "unreadable request")
	errNoSource       = fail(wire.CodeBadRequest, "the gateway gave no source address")
	errEvents         = fail(wire.CodeBadRequest, "events must be a number from 0 to %d", maxStatusEvents)
	errNotJSON        = fail(wire.CodeBadJSON, "the body is not valid JSON")
	errTwoValues      = fail(wire.CodeBadJSON, "the body holds more than one JSON value")
	errNotObject      = fail(wire.CodeBadJSON, "the body must be a JSON object")
	errFieldTypes     = fail(wire.CodeBadJSON, "the body's fields have the wrong types")
	errNoCredentials  = fail(wire.CodeUnauthorized, "missing Authorization header (use PPTER-HMAC-SHA256 or Basic site:secret)").with("WWW-Authenticate", siteChallenge)
	errBadCredentials = fail(wire.CodeUnauthorized, "invalid credentials (unknown site or wrong secret)").with("WWW-Authenticate", siteChallenge)
	errNotBasic       = fail(wire.CodeUnauthorized, "dyndns2 takes Basic credentials")
	errStatusOff      = fail(wire.CodeUnauthorized, "the status endpoint is disabled: set admin.token in the config")
	errAdminToken     = fail(wire.CodeUnauthorized, "missing or wrong admin token (Authorization: Bearer …)").with("WWW-Authenticate", `Basic realm="ppter status", charset="UTF-8"`)
	errReplayed       = fail(wire.CodeReplayed, "this nonce was already used; sign every request with a fresh nonce")
	errUnavailable    = fail(wire.CodeUnavailable, "the state store is unavailable; retry later")
)

// answerOf is the answer to err: its own for an *apiError, the API's for the errors of the
// store and of the event decoder, bad_request for any other event that did not decode, and
// internal (logged) for anything else.
func (s *Server) answerOf(ctx context.Context, h *fcevent.HTTP, err error, decoding bool) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, fcevent.ErrTooLarge):
		return errTooLarge
	case errors.Is(err, fcevent.ErrBadBase64):
		return errBase64
	case errors.Is(err, store.ErrReplay):
		return errReplayed
	case errors.Is(err, store.ErrUnavailable):
		return errUnavailable
	case decoding:
		return errUnreadable
	}
	s.log.ErrorContext(ctx, "internal error", "request_id", h.RequestID, "err", err.Error())
	return fail(wire.CodeInternal, "internal error (request %s)", h.RequestID)
}

// errorResponse is the JSON answer of e at now: its status, its headers and an error
// object that carries the function's clock (server_time), so a client whose clock is off
// can tell by how much.
func errorResponse(e *apiError, now time.Time) fcevent.Response {
	r := jsonResponse(httpStatus[e.code], wire.ErrorResponse{Error: wire.ErrorBody{Code: e.code, Message: e.msg, ServerTime: wire.ServerTime(now)}})
	for k, v := range e.header {
		r.Header[k] = v
	}
	return r
}
