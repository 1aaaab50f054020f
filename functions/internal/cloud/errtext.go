package cloud

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/alibabacloud-go/tea/tea"
)

// PublicError is err's text for offices (a ping's targets[].error), webhooks, the event
// stream and the status page: an SDK error's full text (request ID, response data…) becomes
// the API's error code and HTTP status, and a network error names the host only (its URL's
// query carries the call's parameters). The function's log keeps the full text (LogError).
func PublicError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	var se *tea.SDKError
	if errors.As(err, &se) {
		short := fmt.Sprintf("API error %s (HTTP %d; details in the function's log)", tea.StringValue(se.Code), tea.IntValue(se.StatusCode))
		s = replaceLeaf(s, se.Error(), short)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		what := "failed"
		if ue.Timeout() {
			what = "timed out"
		}
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		s = replaceLeaf(s, ue.Error(), fmt.Sprintf("network error: the call to %s %s", host, what))
	}
	return s
}

// LogError is err's full text for the function's log, with a request URL's query left out:
// the SDKs send every parameter there, a connection's PSK included.
func LogError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = "…"
			s = replaceLeaf(s, ue.Error(), (&url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}).Error())
		}
	}
	return s
}

// replaceLeaf replaces the wrapped error's text leaf inside full (fmt's %w copies it
// verbatim); a full text not containing it is replaced whole.
func replaceLeaf(full, leaf, short string) string {
	if strings.Contains(full, leaf) {
		return strings.Replace(full, leaf, short, 1)
	}
	return short
}
