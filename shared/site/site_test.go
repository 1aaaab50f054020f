package site

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "hz", true},
		{"digits and dash", "office-2", true},
		{"leading digit", "1st", true},
		{"max length", strings.Repeat("a", MaxLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"upper case", "HZ", false},
		{"leading dash", "-hz", false},
		{"trailing dash", "hz-", false},
		{"dot", "hz.bj", false},
		{"underscore", "hz_1", false},
		{"space", "h z", false},
		{"colon", "hz:1", false},
		{"non ascii", "杭州", false},
		{"brace", "{ppter}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in)
			if tt.ok {
				if err != nil || n.String() != tt.in {
					t.Fatalf("Parse(%q) = %q, %v; want ok", tt.in, n, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error = %v, want ErrInvalid", tt.in, err)
			}
		})
	}
}
