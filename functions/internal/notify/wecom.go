package notify

import "time"

// WeCom is a WeCom (企业微信) group robot; its key is in the URL.
const WeCom Sink = "wecom"

func wecomRequest(w Webhook, e Event, _ time.Time) (string, any, map[string]string) {
	if w.Format == FormatMarkdown {
		return w.URL, map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": e.Markdown()}}, nil
	}
	return w.URL, map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text()}}, nil
}
