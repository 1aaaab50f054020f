package notify

import (
	"encoding/base64"
	"strconv"
	"time"
)

// Feishu is a Feishu/Lark custom bot, with an optional signature secret.
const Feishu Sink = "feishu"

// feishuRequest: a text message; with a secret, the body gains timestamp and sign.
func feishuRequest(w Webhook, e Event, now time.Time) (string, any, map[string]string) {
	body := map[string]any{"msg_type": "text", "content": map[string]string{"text": e.Text()}}
	if w.Secret != "" {
		body["timestamp"], body["sign"] = FeishuSign(w.Secret, now)
	}
	return w.URL, body, nil
}

// FeishuSign computes Feishu/Lark's signed-bot fields: timestamp is the time in seconds,
// sign is base64(HMAC-SHA256(key=timestamp+"\n"+secret, empty message)), both sent in the
// JSON body.
func FeishuSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.Unix(), 10)
	return timestamp, base64.StdEncoding.EncodeToString(hmacSHA256(timestamp+"\n"+secret, ""))
}
