package router

import (
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	data := &templateData{Peer: "bj", PeerIP: "198.51.100.9", SelfIP: "203.0.113.8", SelfLine: "unicom", Password: "pw-secret", Vars: map[string]string{"index": "2"}, Captured: map[string]string{"csrf": "tok"}}
	tests := []struct {
		name, text, want, wantErr string
	}{
		{name: "literal", text: "/vpn", want: "/vpn"},
		{name: "fields", text: `{"peer":"{{.Peer}}","ip":"{{ .PeerIP }}"}`, want: `{"peer":"bj","ip":"198.51.100.9"}`},
		{name: "own line", text: "/self/{{.SelfLine}}/{{.SelfIP}}", want: "/self/unicom/203.0.113.8"},
		{name: "maps", text: "/p/{{.Vars.index}}?t={{.Captured.csrf}}", want: "/p/2?t=tok"},
		{name: "missing var", text: "{{.Vars.nope}}", wantErr: "missing value for .Vars.nope"},
		{name: "unknown field", text: "{{.Secret}}", wantErr: "unknown reference"},
		{name: "map without key", text: "{{.Vars}}", wantErr: "unknown reference"},
		{name: "function call", text: `{{printf "%s" .Peer}}`, wantErr: "bad reference"},
		{name: "unclosed", text: "/x/{{.Peer", wantErr: "bad reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := parseTmpl("t", tc.text)
			var got string
			if err == nil {
				got, err = tp.execute(data, escNone)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "pw-secret") {
					t.Errorf("error %q contains the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTemplateEscaping: values, never literal text, are escaped for the context.
func TestTemplateEscaping(t *testing.T) {
	data := &templateData{Password: `a"b\c&d=e/f?g h`, Vars: map[string]string{"index": "2"}}
	tests := []struct {
		name, text string
		ec         escContext
		want       string
	}{
		{name: "none", text: `{{.Password}}`, ec: escNone, want: `a"b\c&d=e/f?g h`},
		{name: "json string", text: `{"pass":"{{.Password}}","n":{{.Vars.index}}}`, ec: escJSON, want: `{"pass":"a\"b\\c\u0026d=e/f?g h","n":2}`},
		{name: "url path then query", text: `/p/{{.Password}}?x={{.Password}}&i={{.Vars.index}}`, ec: escURL, want: `/p/a%22b%5Cc&d=e%2Ff%3Fg%20h?x=a%22b%5Cc%26d%3De%2Ff%3Fg+h&i=2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := parseTmpl("t", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tp.execute(data, tc.ec)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
