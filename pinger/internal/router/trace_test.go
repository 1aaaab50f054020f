package router

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// traceRecorder wraps a fake router API and writes each request it receives as text, for
// golden comparison: method, path and query, content type, and the body (forms one field a
// line, sorted). Credentials never reach the trace: secrets lists the values to blank.
type traceRecorder struct {
	mu      sync.Mutex
	next    http.Handler
	secrets []string
	buf     bytes.Buffer
}

func (tr *traceRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	tr.mu.Lock()
	fmt.Fprintf(&tr.buf, "%s %s\n", r.Method, r.URL.RequestURI())
	if ct := r.Header.Get("Content-Type"); ct != "" {
		fmt.Fprintf(&tr.buf, "Content-Type: %s\n", ct)
	}
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, _, _ := strings.Cut(a, " ")
		fmt.Fprintf(&tr.buf, "Authorization: %s (redacted)\n", scheme)
	}
	text := string(body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(text); err == nil {
			keys := make([]string, 0, len(form))
			for k := range form {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				for _, v := range form[k] {
					fmt.Fprintf(&b, "%s=%s\n", k, v)
				}
			}
			text = b.String()
		}
	}
	for _, s := range tr.secrets {
		text = strings.ReplaceAll(text, s, "(redacted)")
	}
	if text != "" {
		tr.buf.WriteString(strings.TrimSuffix(text, "\n") + "\n")
	}
	tr.buf.WriteString("\n")
	tr.mu.Unlock()
	tr.next.ServeHTTP(w, r)
}

func (tr *traceRecorder) bytes() []byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return bytes.Clone(tr.buf.Bytes())
}
