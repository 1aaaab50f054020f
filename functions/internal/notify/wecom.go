package notify

import "time"

// WeCom is a WeCom (企业微信) group robot; its key is in the URL.
const WeCom Sink = "wecom"

func wecomRequest(w Webhook, e Event, _ time.Time) (string, any, map[string]string) {
	return w.URL, robotMessage(w, e, map[string]string{"content": e.Markdown()}), nil
}
