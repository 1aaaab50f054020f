package notify

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"time"
)

// DingTalk is a DingTalk custom robot, with an optional "加签" secret.
const DingTalk Sink = "dingtalk"

// dingtalkRequest: a text or markdown message; with a secret, the URL gains timestamp and sign.
func dingtalkRequest(w Webhook, e Event, now time.Time) (string, any, map[string]string) {
	body := robotMessage(w, e, map[string]string{"title": e.Title(), "text": e.Markdown()})
	if w.Secret == "" {
		return w.URL, body, nil
	}
	u, _ := url.Parse(w.URL) // New validated it
	ts, sign := DingTalkSign(w.Secret, now)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", sign)
	u.RawQuery = q.Encode()
	return u.String(), body, nil
}

// DingTalkSign computes DingTalk's signed-robot parameters: timestamp is the time in
// milliseconds, sign is base64(HMAC-SHA256(key=secret, timestamp+"\n"+secret)), to be sent
// (URL-encoded) as the timestamp and sign query parameters.
func DingTalkSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.UnixMilli(), 10)
	return timestamp, base64.StdEncoding.EncodeToString(hmacSHA256(secret, timestamp+"\n"+secret))
}

// robotMessage is a DingTalk or WeCom body: e's text, or markdown if w wants markdown.
func robotMessage(w Webhook, e Event, markdown map[string]string) map[string]any {
	if w.Format == FormatMarkdown {
		return map[string]any{"msgtype": "markdown", "markdown": markdown}
	}
	return map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text()}}
}
