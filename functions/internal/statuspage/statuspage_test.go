package statuspage

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func sampleFleet() Fleet {
	return Fleet{
		GeneratedAt: now,
		Sites: []Site{
			{Name: "bj", IPv4: netip.MustParseAddr("1.2.3.4"), SeenAt: now.Add(-30 * time.Second), ChangedAt: now.Add(-2 * time.Hour)},
			{Name: "hz", IPv4: netip.MustParseAddr("5.6.7.8"), IPv6: netip.MustParseAddr("2400:3200::1"), SeenAt: now.Add(-20 * time.Minute), ChangedAt: now.Add(-3 * 24 * time.Hour), Stale: true},
			{Name: "sh"},
		},
		Targets: []Target{
			{Site: "bj", Kind: "dns", Name: "bj.vpn.example.com/A", State: "applied", IP: netip.MustParseAddr("1.2.3.4"), UpdatedAt: now.Add(-2 * time.Hour)},
			{Site: "hz", Kind: "vpn", Name: "to-hz", State: "error", IP: netip.MustParseAddr("5.6.7.8"), Error: "VpnGateway.Configuring: gateway busy", UpdatedAt: now.Add(-time.Minute)},
			{Site: "hz", Kind: "dns", Name: "hz.vpn.example.com/A", State: "pending", IP: netip.MustParseAddr("5.6.7.8")},
		},
		Events: []Event{
			{At: now.Add(-time.Minute), Site: "hz", Kind: "target_failed", Detail: "vpn to-hz: VpnGateway.Configuring"},
			{At: now.Add(-2 * time.Hour), Site: "bj", Kind: "address_changed", Detail: "9.9.9.9 → 1.2.3.4"},
		},
	}
}

func TestJSON(t *testing.T) {
	got, err := JSON(Fleet{
		GeneratedAt: now,
		Sites:       []Site{{Name: "hz", IPv4: netip.MustParseAddr("5.6.7.8"), SeenAt: now, Stale: false}},
		Targets:     []Target{{Site: "hz", Kind: "vpn", Name: "to-hz", State: "error", Error: "boom"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"generated_at":"2026-11-28T10:00:00Z",
		"sites":[{"name":"hz","ipv4":"5.6.7.8","ipv6":"","seen_at":"2026-11-28T10:00:00Z","stale":false}],
		"targets":[{"site":"hz","kind":"vpn","name":"to-hz","state":"error","ip":"","error":"boom"}],
		"events":[]}`
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !strings.HasSuffix(string(got), "}\n") {
		t.Error("JSON does not end in a newline")
	}
	empty, _ := JSON(Fleet{})
	if strings.Contains(string(empty), "null") {
		t.Errorf("empty fleet has nulls: %s", empty)
	}
}

func TestWantsHTML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true}, // Chrome, Firefox
		{"text/html, application/xhtml+xml, */*", false},                                                // tie with */*: JSON
		{"application/xhtml+xml;q=0.9", true},
		{"text/html;q=0.5, */*;q=0.1", true},
		{"text/html;q=0.5, application/json", false},
		{"text/html, application/json;q=0.5", true},
		{"text/html, application/*;q=0.2", true},
		{"text/html;q=0.5, application/*, application/json;q=0.1", true}, // exact json wins over application/*
		{"text/html;q=0", false},
		{"*/*", false}, // curl
		{"application/json", false},
		{"", false},
		{"text/html;q=abc", false},
		{";;;,", false},
		{"TEXT/HTML", true},
	}
	for _, tt := range tests {
		if got := WantsHTML(tt.accept); got != tt.want {
			t.Errorf("WantsHTML(%q): got %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestHTMLEscaping(t *testing.T) {
	f := sampleFleet()
	f.Sites[0].Name = `<b onmouseover="x">bj</b>` // not a valid site name, but must still be inert
	f.Targets[1].Error = `<script>alert("pwned")</script> & more`
	f.Events[0].Detail = `"><img src=x onerror=alert(1)>`
	f.Targets[0].Name = `a'b"c`
	got, err := HTML(f)
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, bad := range []string{"<script", "<img", "<b onmouseover", `a'b"c`} {
		if strings.Contains(s, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; more",
		"&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
		"&lt;b onmouseover=&#34;x&#34;&gt;bj&lt;/b&gt;",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks escaped %q", want)
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	got, err := HTML(sampleFleet())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ToLower(string(got))
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url(", "src=", "//cdn"} {
		if strings.Contains(s, bad) {
			t.Errorf("page refers to something outside itself: %q", bad)
		}
	}
	for _, want := range []string{
		`<tr class="stale" data-site="hz">`,
		`<tr class="ok" data-site="bj">`,
		`<tr class="other" data-site="sh">`, "no ping yet",
		`<tr class="failed" data-target="vpn/to-hz">`,
		`<tr class="pending" data-target="dns/hz.vpn.example.com/A">`,
		"STALE", "FAILED", "30s ago", "20m ago", "2400:3200::1", "never",
		"3 sites (1 stale)", "3 targets (1 failed)",
		"background: " + ColorStale, "background: " + ColorFailed,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLEmpty(t *testing.T) {
	got, err := HTML(Fleet{GeneratedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No site has pinged yet.", "No targets configured.", "No events."} {
		if !strings.Contains(string(got), want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
}

func TestAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s ago"},
		{59 * time.Second, "59s ago"},
		{5 * time.Minute, "5m ago"},
		{3 * time.Hour, "3h ago"},
		{47 * time.Hour, "47h ago"},
		{72 * time.Hour, "3d ago"},
		{-time.Second, "in the future"},
	}
	for _, tt := range tests {
		if got := ago(now, now.Add(-tt.d)); got != tt.want {
			t.Errorf("ago(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := ago(now, time.Time{}); got != "" {
		t.Errorf("ago(zero): got %q, want empty", got)
	}
}
