package notify

import "time"

// WeCom is a WeCom (企业微信) group robot; its key is in the URL.
const WeCom Sink = "wecom"

type wecom struct{ robot }

func (wecom) validate(w Webhook, key string) error {
	if w.Secret != "" {
		return invalid(key+".secret", "wecom robots have no signing secret (the key is in the URL)")
	}
	return nil
}

func (wecom) request(w Webhook, e Event, _ time.Time) (string, any, map[string]string, error) {
	if w.Format == FormatMarkdown {
		return w.URL, map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": e.Markdown()}}, nil, nil
	}
	return w.URL, map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text()}}, nil, nil
}
