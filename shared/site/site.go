// Package site defines the name of an office ("site") and the rules it must follow.
//
// A site name is used in Redis keys, log lines, dyndns2 hostnames and config keys, so it is
// kept to a safe alphabet: 1–32 characters of lower-case ASCII letters, digits and '-',
// starting with a letter or digit and not ending with '-'.
package site

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLen is the longest site name accepted.
const MaxLen = 32

// ErrInvalid is returned (wrapped) for a name that breaks the rules.
var ErrInvalid = errors.New("invalid site name")

// Name is a validated site name. The zero value is not a valid name. Decoding one from
// JSON or YAML validates it.
type Name string

// Parse validates s and returns it as a Name.
func Parse(s string) (Name, error) {
	if err := Validate(s); err != nil {
		return "", err
	}
	return Name(s), nil
}

// Validate reports why s is not a valid site name, or nil.
func Validate(s string) error { return validate(ErrInvalid, s) }

// ErrInvalidLine is returned (wrapped) for a line name that breaks the rules.
var ErrInvalidLine = errors.New("invalid line name")

func validate(sentinel error, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", sentinel)
	case len(s) > MaxLen:
		return fmt.Errorf("%w %q: longer than %d characters", sentinel, s, MaxLen)
	case s[0] == '-':
		return fmt.Errorf("%w %q: must start with a letter or digit", sentinel, s)
	case s[len(s)-1] == '-':
		return fmt.Errorf("%w %q: must not end with '-'", sentinel, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w %q: character %q not allowed (use a-z, 0-9 and '-')", sentinel, s, rune(c))
		}
	}
	return nil
}

// UnmarshalText validates text, so that JSON and YAML decoding (values and map keys)
// refuse a bad name.
func (n *Name) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// String returns the name.
func (n Name) String() string { return string(n) }

// Line is the name of one of a site's internet lines (its `lines`), under the same rules
// as a site name. The zero value is a site's one unnamed line.
type Line string

// ParseLine validates s as a line name.
func ParseLine(s string) (Line, error) {
	if err := validate(ErrInvalidLine, s); err != nil {
		return "", err
	}
	return Line(s), nil
}

// UnmarshalText validates text as a line name.
func (l *Line) UnmarshalText(text []byte) error {
	v, err := ParseLine(string(text))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// String returns the line's name ("" for the unnamed line).
func (l Line) String() string { return string(l) }

// Peer names one line of a site, as a router driver's mapping does: "bj" is bj's default
// line (Line empty), "bj/unicom" its line unicom.
type Peer struct {
	Site Name
	Line Line // empty: the site's default line
}

// ParsePeer parses "site" or "site/line".
func ParsePeer(s string) (Peer, error) {
	name, line, named := strings.Cut(s, "/")
	n, err := Parse(name)
	if err != nil {
		return Peer{}, err
	}
	p := Peer{Site: n}
	if named {
		if p.Line, err = ParseLine(line); err != nil {
			return Peer{}, err
		}
	}
	return p, nil
}

// UnmarshalText parses text as ParsePeer does, so that YAML map keys like bj/unicom are
// checked when decoded.
func (p *Peer) UnmarshalText(text []byte) error {
	v, err := ParsePeer(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText returns the peer as String does.
func (p Peer) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// String returns "site" or "site/line".
func (p Peer) String() string {
	if p.Line == "" {
		return string(p.Site)
	}
	return string(p.Site) + "/" + string(p.Line)
}
