package api

import (
	"testing"
)

func TestDecodePing(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"empty", "", true},
		{"blank", " \n", true},
		{"object", `{"agent":"ppter-pinger/1.0"}`, true},
		{"unknown field", `{"future":1}`, true},
		{"array", `[]`, false},
		{"string", `"x"`, false},
		{"null", `null`, false},
		{"two values", `{} {}`, false},
		{"truncated", `{"agent":`, false},
		{"wrong type", `{"agent":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodePing([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("decodePing(%q) = %v, want ok=%v", tt.body, err, tt.ok)
			}
		})
	}
}

func FuzzDecodePing(f *testing.F) {
	for _, s := range []string{"", "{}", `{"agent":"x"}`, "[1]", `{"agent":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodePing(b)
		if err != nil {
			if _, ok := err.(*apiError); !ok {
				t.Fatalf("error %T is not an API error", err)
			}
			return
		}
		_ = req
	})
}
