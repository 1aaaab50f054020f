package notify

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// JSON is a generic JSON POST of the event, with an optional HMAC signature.
const JSON Sink = "json"

// SignatureHeader carries the json sink's signature when it has a secret:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
const SignatureHeader = "X-Ppter-Signature"

// jsonRequest: the event's payload; with a secret, the SignatureHeader over its bytes.
func jsonRequest(w Webhook, e Event, now time.Time) (string, any, map[string]string) {
	data, _ := json.Marshal(e.payload()) // strings and an int: it cannot fail
	if w.Secret == "" {
		return w.URL, json.RawMessage(data), nil
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := "t=" + ts + ",v1=" + JSONSign(w.Secret, ts, data)
	return w.URL, json.RawMessage(data), map[string]string{SignatureHeader: sig}
}

// JSONSign computes the v1 value of SignatureHeader.
func JSONSign(secret, timestamp string, body []byte) string {
	return hex.EncodeToString(hmacSHA256(secret, timestamp+"."+string(body)))
}
