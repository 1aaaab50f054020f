package router

import (
	"fmt"
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
	"Peer": true, "PeerIP": true, "OldIP": true, "SelfIP": true, "Family": true,
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

func (t *tmpl) execute(d *templateData) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		var v string
		ok := true
		switch p.field {
		case "":
			v = p.text
		case "Peer":
			v = d.Peer
		case "PeerIP":
			v = d.PeerIP
		case "OldIP":
			v = d.OldIP
		case "SelfIP":
			v = d.SelfIP
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
		b.WriteString(v)
	}
	return b.String(), nil
}
