package router

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// tmpl is the http driver's template: text with {{.Field}} and {{.Map.key}} references
// and nothing else. It is deliberately not text/template, whose reflection on methods
// keeps the linker from dropping unused code and adds megabytes to the binary.
type tmpl struct {
	name  string
	parts []tmplPart
}

type tmplPart struct {
	text  string // literal text, when field is empty
	field string // Peer, PeerIP, …, Vars or Captured
	key   string // map key for Vars and Captured
}

var tmplRef = regexp.MustCompile(`\{\{\s*\.([A-Za-z]+)(?:\.([A-Za-z0-9_-]+))?\s*\}\}`)

var tmplFields = map[string]bool{
	"Peer": true, "PeerIP": true, "OldIP": true, "SelfIP": true, "SelfLine": true, "Family": true,
	"Username": true, "Password": true, "Vars": true, "Captured": true,
}

func parseTmpl(name, text string) (*tmpl, error) {
	t := &tmpl{name: name}
	last := 0
	for _, m := range tmplRef.FindAllStringSubmatchIndex(text, -1) {
		lit := text[last:m[0]]
		if strings.Contains(lit, "{{") {
			return nil, fmt.Errorf("template %s: bad reference near %q", name, lit[strings.Index(lit, "{{"):])
		}
		field, key := text[m[2]:m[3]], ""
		if m[4] >= 0 {
			key = text[m[4]:m[5]]
		}
		isMap := field == "Vars" || field == "Captured"
		if !tmplFields[field] || isMap != (key != "") {
			return nil, fmt.Errorf("template %s: unknown reference %s", name, text[m[0]:m[1]])
		}
		t.parts = append(t.parts, tmplPart{text: lit}, tmplPart{field: field, key: key})
		last = m[1]
	}
	if rest := text[last:]; strings.Contains(rest, "{{") {
		return nil, fmt.Errorf("template %s: bad reference near %q", name, rest[strings.Index(rest, "{{"):])
	} else {
		t.parts = append(t.parts, tmplPart{text: rest})
	}
	return t, nil
}

// Name returns the template's name (the config field it came from).
func (t *tmpl) Name() string { return t.name }

// escContext is where a template's output goes; each value (never the literal text) is
// escaped for it, so a password with a quote or a captured token with an '&' stays one
// value.
type escContext int

// Escaping contexts.
const (
	// escNone inserts values as they are: form and query values (url.Values encodes them
	// later), headers (net/http refuses control characters), raw bodies.
	escNone escContext = iota
	// escJSON inserts values as the inside of a JSON string: the json: body, where
	// references stand between quotes.
	escJSON
	// escURL path-escapes values before the first '?' of the text and query-escapes them
	// after it: the path: field.
	escURL
)

func (t *tmpl) execute(d *templateData, ec escContext) (string, error) {
	var b strings.Builder
	inQuery := false
	for _, p := range t.parts {
		var v string
		ok := true
		switch p.field {
		case "":
			b.WriteString(p.text)
			inQuery = inQuery || strings.Contains(p.text, "?")
			continue
		case "Peer":
			v = d.Peer
		case "PeerIP":
			v = d.PeerIP
		case "OldIP":
			v = d.OldIP
		case "SelfIP":
			v = d.SelfIP
		case "SelfLine":
			v = d.SelfLine
		case "Family":
			v = d.Family
		case "Username":
			v = d.Username
		case "Password":
			v = d.Password
		case "Vars":
			v, ok = d.Vars[p.key]
		case "Captured":
			v, ok = d.Captured[p.key]
		}
		if !ok {
			// Name the reference, never a value: values may be secrets.
			return "", fmt.Errorf("template %s: missing value for .%s.%s", t.name, p.field, p.key)
		}
		b.WriteString(escape(v, ec, inQuery))
	}
	return b.String(), nil
}

func escape(v string, ec escContext, inQuery bool) string {
	switch {
	case ec == escJSON:
		q, _ := json.Marshal(v) // a string always marshals
		return string(q[1 : len(q)-1])
	case ec == escURL && inQuery:
		return url.QueryEscape(v)
	case ec == escURL:
		return url.PathEscape(v)
	}
	return v
}
