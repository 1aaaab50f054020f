package aliyunemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Algorithm is the only signature algorithm the emulator accepts.
const Algorithm = "ACS3-HMAC-SHA256"

// Errors of signature verification.
var (
	ErrBadAuthorization = errors.New("malformed Authorization header")
	ErrUnsignedHeader   = errors.New("a required header is not signed")
	ErrPayloadHash      = errors.New("x-acs-content-sha256 does not match the body")
	ErrSignature        = errors.New("signature does not match")
)

// Authorization is a parsed ACS3 Authorization header.
type Authorization struct {
	AccessKeyID   string
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses
// "ACS3-HMAC-SHA256 Credential=<ak>,SignedHeaders=<h1;h2>,Signature=<hex>".
func ParseAuthorization(v string) (Authorization, error) {
	var a Authorization
	alg, rest, ok := strings.Cut(v, " ")
	if !ok || alg != Algorithm {
		return a, fmt.Errorf("%w: algorithm must be %s", ErrBadAuthorization, Algorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fmt.Errorf("%w: %q", ErrBadAuthorization, part)
		}
		switch k {
		case "Credential":
			a.AccessKeyID = val
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(val, ";")
		case "Signature":
			a.Signature = val
		default:
			return a, fmt.Errorf("%w: unknown field %q", ErrBadAuthorization, k)
		}
	}
	if a.AccessKeyID == "" || len(a.SignedHeaders) == 0 || a.Signature == "" {
		return a, fmt.Errorf("%w: missing field", ErrBadAuthorization)
	}
	return a, nil
}

// CanonicalQuery renders query parameters as the ACS3 canonical query string: keys sorted,
// RFC 3986 percent-encoding (space as %20, '*' as %2A, '~' kept), "k=" for empty values.
func CanonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(percentEncode(k))
			b.WriteByte('=')
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
}

func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// CanonicalRequest builds the ACS3 canonical request. headers maps lower-case header names to
// their values; only the names in signed (lower-case, any order) are included.
func CanonicalRequest(method, path string, q url.Values, headers map[string][]string, signed []string, payloadHash string) string {
	if path == "" {
		path = "/"
	}
	names := append([]string(nil), signed...)
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		vals := make([]string, 0, len(headers[n]))
		for _, v := range headers[n] {
			vals = append(vals, strings.TrimSpace(v))
		}
		sort.Strings(vals)
		ch.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	return method + "\n" + path + "\n" + CanonicalQuery(q) + "\n" + ch.String() + "\n" +
		strings.Join(names, ";") + "\n" + payloadHash
}

// Sign returns the hex ACS3-HMAC-SHA256 signature of a canonical request.
func Sign(secret, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := Algorithm + "\n" + hex.EncodeToString(sum[:])
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// requiredSigned are the headers every request must sign.
var requiredSigned = []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}

// Verify checks the ACS3 signature of r, whose body has already been read into body, with
// the secret that secretFor returns for the request's AccessKeyId (false: unknown key).
func Verify(r *http.Request, body []byte, secretFor func(accessKeyID string) (string, bool)) (Authorization, error) {
	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return a, err
	}
	headers := map[string][]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = v
	}
	headers["host"] = []string{r.Host}
	signed := map[string]bool{}
	for _, h := range a.SignedHeaders {
		signed[h] = true
	}
	for _, h := range requiredSigned {
		if !signed[h] {
			return a, fmt.Errorf("%w: %s", ErrUnsignedHeader, h)
		}
	}
	for h := range headers {
		if strings.HasPrefix(h, "x-acs-") && !signed[h] {
			return a, fmt.Errorf("%w: %s", ErrUnsignedHeader, h)
		}
	}
	sum := sha256.Sum256(body)
	if got := r.Header.Get("x-acs-content-sha256"); got != hex.EncodeToString(sum[:]) {
		return a, ErrPayloadHash
	}
	secret, ok := secretFor(a.AccessKeyID)
	if !ok {
		return a, errUnknownKey
	}
	want := Sign(secret, CanonicalRequest(r.Method, r.URL.EscapedPath(), r.URL.Query(), headers, a.SignedHeaders, r.Header.Get("x-acs-content-sha256")))
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return a, ErrSignature
	}
	return a, nil
}

var errUnknownKey = errors.New("unknown AccessKeyId")
