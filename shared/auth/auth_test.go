package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type vector struct {
	Secret string `json:"secret"`
	Method string `json:"method"`
	Path   string `json:"path"`
	TS     int64  `json:"ts"`
	Nonce  string `json:"nonce"`
	Body   string `json:"body"`
	Sig    string `json:"sig"`
}

// The vectors in testdata/vectors.json were computed with openssl, independently of this code.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		got := hex.EncodeToString(Sign([]byte(v.Secret), v.Method, v.Path, v.TS, v.Nonce, []byte(v.Body)))
		if got != v.Sig {
			t.Errorf("Sign(%q) = %s, want %s", v.Nonce, got, v.Sig)
		}
		h := Header("hz", []byte(v.Secret), v.Method, v.Path, v.TS, v.Nonce, []byte(v.Body))
		c, err := Parse(h)
		if err != nil {
			t.Fatalf("Parse(Header()) = %v", err)
		}
		if err := c.VerifySecret([]byte(v.Secret), v.Method, v.Path, []byte(v.Body)); err != nil {
			t.Errorf("VerifySecret = %v, want nil", err)
		}
		if err := c.VerifySecret([]byte(v.Secret+"x"), v.Method, v.Path, []byte(v.Body)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifySecret(wrong secret) = %v, want ErrBadSignature", err)
		}
		if err := c.VerifySecret([]byte(v.Secret), v.Method, v.Path, []byte(v.Body+" ")); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifySecret(other body) = %v, want ErrBadSignature", err)
		}
		if err := c.VerifySecret([]byte(v.Secret), "GET", v.Path, []byte(v.Body)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifySecret(other method) = %v, want ErrBadSignature", err)
		}
	}
}

// TestSignIsHMAC holds Sign to crypto/hmac over StringToSign, for secrets shorter than,
// as long as and longer than SHA-256's block (hashed first), and for messages that do and
// do not fit sign's buffer on the stack.
func TestSignIsHMAC(t *testing.T) {
	for _, n := range []int{0, 1, 16, 32, 63, 64, 65, 100, 200} {
		secret := bytes.Repeat([]byte{byte(n + 1), 0xa5}, n)[:n]
		for _, path := range []string{"/v1/ping", "/" + strings.Repeat("p", 300)} {
			nonce := "nonce-" + strconv.Itoa(n) + "-0123456789"
			body := []byte(`{"since":` + strconv.Itoa(n) + `}`)
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(StringToSign("POST", path, 1700000000+int64(n), nonce, body)))
			want := m.Sum(nil)
			if got := Sign(secret, "POST", path, 1700000000+int64(n), nonce, body); !bytes.Equal(got, want) {
				t.Errorf("secret of %d bytes, path of %d: Sign = %x, want %x", n, len(path), got, want)
			}
		}
	}
}

func TestSignAllocs(t *testing.T) {
	secret, body := []byte("hz-secret-0123456789abcdef"), []byte(`{}`)
	c := Credentials{Kind: KindHMAC, Site: "hz", TS: 1700000000, Nonce: "nonce-0123456789ab"}
	c.Sig = Sign(secret, "POST", "/v1/ping", c.TS, c.Nonce, body)
	got := testing.AllocsPerRun(100, func() {
		if err := c.VerifySecret(secret, "POST", "/v1/ping", body); err != nil {
			t.Fatal(err)
		}
	})
	if got != 0 {
		t.Errorf("VerifySecret allocates %v times, want 0", got)
	}
}

func TestParse(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	good := "PPTER-HMAC-SHA256 site=hz, ts=1795860000, nonce=abcdefghijklmnop, sig=" + sig
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		header string
		want   error
		kind   Kind
	}{
		{"hmac", good, nil, KindHMAC},
		{"hmac no spaces", "PPTER-HMAC-SHA256 site=hz,ts=1,nonce=abcdefghijklmnop,sig=" + sig, nil, KindHMAC},
		{"hmac keys reordered", "PPTER-HMAC-SHA256 sig=" + sig + ", nonce=abcdefghijklmnop, ts=1, site=hz", nil, KindHMAC},
		{"basic", basic("hz:secret"), nil, KindBasic},
		{"basic lower-case scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("hz:a:b")), nil, KindBasic},
		{"empty", "", ErrMissing, 0},
		{"blank", "   ", ErrMissing, 0},
		{"bearer", "Bearer abc", ErrScheme, 0},
		{"scheme only", "PPTER-HMAC-SHA256", ErrMalformed, 0},
		{"missing sig", "PPTER-HMAC-SHA256 site=hz, ts=1, nonce=abcdefghijklmnop", ErrMalformed, 0},
		{"duplicate key", good + ", site=bj", ErrMalformed, 0},
		{"unknown key", good + ", x=1", ErrMalformed, 0},
		{"bad site", strings.Replace(good, "site=hz", "site=HZ", 1), ErrMalformed, 0},
		{"ts not number", strings.Replace(good, "ts=1795860000", "ts=soon", 1), ErrMalformed, 0},
		{"ts negative", strings.Replace(good, "ts=1795860000", "ts=-5", 1), ErrMalformed, 0},
		{"nonce short", strings.Replace(good, "abcdefghijklmnop", "abc", 1), ErrMalformed, 0},
		{"nonce long", strings.Replace(good, "abcdefghijklmnop", strings.Repeat("a", 65), 1), ErrMalformed, 0},
		{"nonce bad char", strings.Replace(good, "abcdefghijklmnop", "abcdefghijklmno!", 1), ErrMalformed, 0},
		{"sig short", strings.Replace(good, sig, "abcd", 1), ErrMalformed, 0},
		{"sig not hex", strings.Replace(good, sig, strings.Repeat("zz", 32), 1), ErrMalformed, 0},
		{"no equals", "PPTER-HMAC-SHA256 site", ErrMalformed, 0},
		{"basic not base64", "Basic !!!", ErrMalformed, 0},
		{"basic no colon", basic("hz"), ErrMalformed, 0},
		{"basic empty secret", basic("hz:"), ErrMalformed, 0},
		{"basic bad site", basic("HZ:x"), ErrMalformed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if err == nil && c.Kind != tt.kind {
				t.Fatalf("Kind = %v, want %v", c.Kind, tt.kind)
			}
		})
	}
}

func TestParseErrorsHideSecrets(t *testing.T) {
	for _, h := range []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("HZ:topsecret")),
		"PPTER-HMAC-SHA256 site=hz, ts=1, nonce=abcdefghijklmnop, sig=topsecret",
	} {
		_, err := Parse(h)
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Parse error %v leaks the secret", err)
		}
	}
}

func TestCheckTime(t *testing.T) {
	now := time.Unix(1795860000, 0)
	tests := []struct {
		name string
		ts   int64
		ok   bool
	}{
		{"now", now.Unix(), true},
		{"300s old", now.Unix() - 300, true},
		{"300s ahead", now.Unix() + 300, true},
		{"301s old", now.Unix() - 301, false},
		{"301s ahead", now.Unix() + 301, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Credentials{Kind: KindHMAC, TS: tt.ts}.CheckTime(now)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrClockSkew)) {
				t.Fatalf("CheckTime = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if err := (Credentials{Kind: KindBasic}).CheckTime(now); err != nil {
		t.Fatalf("Basic CheckTime = %v, want nil", err)
	}
}

func TestNewNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if a == b || !validNonce(a) {
		t.Fatalf("NewNonce() = %q, %q: want two different valid nonces", a, b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("PPTER-HMAC-SHA256 site=hz, ts=1795860000, nonce=abcdefghijklmnop, sig=" + strings.Repeat("ab", 32))
	f.Add("Basic aHo6c2VjcmV0")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		c, err := Parse(h)
		if err != nil {
			return
		}
		if c.Site == "" || (c.Kind == KindHMAC && (len(c.Sig) != 32 || !validNonce(c.Nonce))) || (c.Kind == KindBasic && len(c.Secret) == 0) {
			t.Fatalf("Parse(%q) accepted incomplete credentials %+v", h, c)
		}
	})
}
