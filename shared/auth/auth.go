// Package auth implements the site authentication of ppter's protocol: the
// PPTER-HMAC-SHA256 request signature (the pinger's default; the secret never travels and
// replays are refused) and HTTP Basic credentials (for curl and dyndns2 clients).
//
// The signature is
//
//	sig = hex(HMAC_SHA256(secret, "PPTER1\n" + METHOD + "\n" + PATH + "\n" + ts + "\n" + nonce + "\n" + hex(SHA256(body))))
//
// sent as
//
//	Authorization: PPTER-HMAC-SHA256 site=<site>, ts=<unix seconds>, nonce=<16–64 of [A-Za-z0-9_-]>, sig=<hex>
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/site"
)

// Scheme is the Authorization scheme of the HMAC signature.
const Scheme = "PPTER-HMAC-SHA256"

// Window is how far a request's timestamp may be from the server's clock, either way.
const Window = 300 * time.Second

// Nonce length bounds.
const (
	MinNonce = 16
	MaxNonce = 64
)

// Errors returned (wrapped) by this package.
var (
	// ErrMissing means there was no Authorization header.
	ErrMissing = errors.New("missing Authorization header")
	// ErrMalformed means the header could not be parsed.
	ErrMalformed = errors.New("malformed Authorization header")
	// ErrScheme means the scheme is neither PPTER-HMAC-SHA256 nor Basic.
	ErrScheme = errors.New("unsupported Authorization scheme")
	// ErrBadSignature means the signature does not match.
	ErrBadSignature = errors.New("signature does not match")
	// ErrClockSkew means the timestamp is outside Window.
	ErrClockSkew = errors.New("timestamp outside the accepted window")
)

// Kind says which form of credentials a request carried.
type Kind int

// Kinds of credentials.
const (
	KindHMAC Kind = iota + 1
	KindBasic
)

// Credentials is a parsed Authorization header. For KindHMAC, TS, Nonce and Sig are set;
// for KindBasic, Secret is set. Secret must never be logged.
type Credentials struct {
	Kind   Kind
	Site   site.Name
	TS     int64
	Nonce  string
	Sig    []byte
	Secret []byte
}

// Parse parses an Authorization header of either form. It never echoes the header's secret
// parts in its errors.
func Parse(header string) (Credentials, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return Credentials{}, ErrMissing
	}
	scheme, rest, _ := strings.Cut(header, " ")
	switch {
	case scheme == Scheme:
		return parseHMAC(rest)
	case strings.EqualFold(scheme, "Basic"):
		return parseBasic(rest)
	default:
		return Credentials{}, ErrScheme
	}
}

func parseHMAC(rest string) (Credentials, error) {
	c := Credentials{Kind: KindHMAC}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Credentials{}, fmt.Errorf("%w: expected key=value pairs", ErrMalformed)
		}
		if seen[k] {
			return Credentials{}, fmt.Errorf("%w: %s given twice", ErrMalformed, k)
		}
		seen[k] = true
		switch k {
		case "site":
			n, err := site.Parse(v)
			if err != nil {
				return Credentials{}, fmt.Errorf("%w: bad site", ErrMalformed)
			}
			c.Site = n
		case "ts":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ts <= 0 || len(v) > 12 {
				return Credentials{}, fmt.Errorf("%w: ts must be unix seconds", ErrMalformed)
			}
			c.TS = ts
		case "nonce":
			if !validNonce(v) {
				return Credentials{}, fmt.Errorf("%w: nonce must be %d-%d characters of A-Z a-z 0-9 _ -", ErrMalformed, MinNonce, MaxNonce)
			}
			c.Nonce = v
		case "sig":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return Credentials{}, fmt.Errorf("%w: sig must be %d hex digits", ErrMalformed, 2*sha256.Size)
			}
			c.Sig = sig
		default:
			return Credentials{}, fmt.Errorf("%w: unknown key", ErrMalformed)
		}
	}
	for _, k := range []string{"site", "ts", "nonce", "sig"} {
		if !seen[k] {
			return Credentials{}, fmt.Errorf("%w: %s missing", ErrMalformed, k)
		}
	}
	return c, nil
}

func parseBasic(rest string) (Credentials, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: Basic credentials are not base64", ErrMalformed)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Credentials{}, fmt.Errorf("%w: Basic credentials lack ':'", ErrMalformed)
	}
	n, err := site.Parse(user)
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: bad site", ErrMalformed)
	}
	if pass == "" {
		return Credentials{}, fmt.Errorf("%w: empty secret", ErrMalformed)
	}
	return Credentials{Kind: KindBasic, Site: n, Secret: []byte(pass)}, nil
}

func validNonce(s string) bool {
	if len(s) < MinNonce || len(s) > MaxNonce {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// StringToSign returns the exact text that is signed.
func StringToSign(method, path string, ts int64, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return "PPTER1\n" + method + "\n" + path + "\n" + strconv.FormatInt(ts, 10) + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])
}

// Sign returns the signature of a request.
func Sign(secret []byte, method, path string, ts int64, nonce string, body []byte) []byte {
	sum := sign(secret, method, path, ts, nonce, body)
	return sum[:]
}

// sign is HMAC-SHA256 (RFC 2104) of StringToSign under secret, computed with
// sha256.Sum256 on buffers on the stack: crypto/hmac's MAC allocates its two digests and
// pads on every request, and a ping checks one signature. TestSignIsHMAC holds it to
// crypto/hmac.
func sign(secret []byte, method, path string, ts int64, nonce string, body []byte) [sha256.Size]byte {
	const block = 64 // SHA-256's block size
	var key [sha256.Size]byte
	k := secret
	if len(k) > block {
		key = sha256.Sum256(k)
		k = key[:]
	}
	// inner = H((K ^ ipad) || StringToSign), written straight after the pad.
	var buf [block + 256]byte
	b := buf[:block]
	for i := range b {
		b[i] = 0x36
	}
	for i, c := range k {
		b[i] ^= c
	}
	b = append(append(append(append(b, "PPTER1\n"...), method...), '\n'), path...)
	b = append(strconv.AppendInt(append(b, '\n'), ts, 10), '\n')
	b = append(append(b, nonce...), '\n')
	bodySum := sha256.Sum256(body)
	b = hex.AppendEncode(b, bodySum[:])
	inner := sha256.Sum256(b)
	// outer = H((K ^ opad) || inner).
	var o [block + sha256.Size]byte
	for i := range block {
		o[i] = 0x5c
	}
	for i, c := range k {
		o[i] ^= c
	}
	copy(o[block:], inner[:])
	return sha256.Sum256(o[:])
}

// Header returns the Authorization header value for a signed request.
func Header(s site.Name, secret []byte, method, path string, ts int64, nonce string, body []byte) string {
	return fmt.Sprintf("%s site=%s, ts=%d, nonce=%s, sig=%x", Scheme, s, ts, nonce, Sign(secret, method, path, ts, nonce, body))
}

// NewNonce returns a fresh random nonce (32 characters of the URL-safe alphabet).
func NewNonce() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// VerifySecret checks c against the site's secret: the signature for KindHMAC (method, path
// and body are those of the request), the secret itself for KindBasic. Both comparisons are
// constant-time. It does not check the timestamp; see CheckTime.
func (c Credentials) VerifySecret(secret []byte, method, path string, body []byte) error {
	switch c.Kind {
	case KindHMAC:
		sum := sign(secret, method, path, c.TS, c.Nonce, body)
		if !hmac.Equal(c.Sig, sum[:]) {
			return ErrBadSignature
		}
		return nil
	case KindBasic:
		// Compare digests so the comparison time does not depend on the secret's length.
		a, b := sha256.Sum256(c.Secret), sha256.Sum256(secret)
		if !hmac.Equal(a[:], b[:]) {
			return ErrBadSignature
		}
		return nil
	default:
		return ErrScheme
	}
}

// CheckTime reports ErrClockSkew when c is an HMAC credential whose timestamp is more than
// Window away from now, in the past or the future.
func (c Credentials) CheckTime(now time.Time) error {
	if c.Kind != KindHMAC {
		return nil
	}
	d := now.Unix() - c.TS
	if d > int64(Window/time.Second) || d < -int64(Window/time.Second) {
		return fmt.Errorf("%w: ts is %ds from the server's clock (limit %ds)", ErrClockSkew, d, int64(Window/time.Second))
	}
	return nil
}
