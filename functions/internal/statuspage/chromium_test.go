package statuspage

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromiumFlags keep headless Chromium off the network (only the loopback page is loaded)
// and make its output reproducible.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--force-color-profile=srgb", "--hide-scrollbars",
	"--window-size=1000,700",
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not on PATH (Debian: apt-get install -y chromium); skipping the browser rendering test")
	return ""
}

// runChromium runs one headless Chromium command with its own profile and home directory.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append(append([]string{}, chromiumFlags...), "--user-data-dir="+filepath.Join(home, "profile"))
	cmd := exec.CommandContext(ctx, bin, append(all, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

func parseHex(t *testing.T, s string) [3]uint8 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 16, 32)
	if err != nil || len(s) != 7 {
		t.Fatalf("bad colour %q", s)
	}
	return [3]uint8{uint8(v >> 16), uint8(v >> 8), uint8(v)}
}

// countColour counts the pixels within 3 of c on each channel.
func countColour(img image.Image, c [3]uint8) int {
	near := func(a uint32, b uint8) bool {
		d := int(a>>8) - int(b)
		return d >= -3 && d <= 3
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c[0]) && near(g, c[1]) && near(bl, c[2]) {
				n++
			}
		}
	}
	return n
}

// TestChromiumRendersPage serves the page on loopback, renders it in headless Chromium
// and checks both the DOM Chromium built and the pixels of its screenshot.
func TestChromiumRendersPage(t *testing.T) {
	bin := findChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	body, err := HTML(sampleFleet())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/status" {
			http.NotFound(w, r) // e.g. /favicon.ico: the page must not need anything else
			return
		}
		w.Header().Set("Content-Type", ContentTypeHTML)
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		w.Write(body)
	}))
	defer srv.Close()
	url := srv.URL + "/v1/status"

	t.Run("dom", func(t *testing.T) {
		dom := string(runChromium(t, bin, "--dump-dom", url))
		for _, want := range []string{
			`<table id="sites">`, `<table id="targets">`, `<table id="events">`,
			`<tr class="stale" data-site="hz">`,
			`<tr class="ok" data-site="bj">`,
			`<tr class="failed" data-target="vpn/to-hz">`,
			"VpnGateway.Configuring: gateway busy",
		} {
			if !strings.Contains(dom, want) {
				t.Errorf("DOM lacks %q:\n%s", want, dom)
			}
		}
		if n := strings.Count(dom, "<tr class="); n != 3+3+2 {
			t.Errorf("DOM has %d body rows, want 8", n)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "status.png")
		runChromium(t, bin, "--screenshot="+shot, url)
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 700 {
			t.Errorf("screenshot is %v, want 1000x700", b.Size())
		}
		// A table row is some 25 px high and hundreds wide: thousands of pixels of its colour.
		for _, c := range []struct{ name, hex string }{
			{"stale site", ColorStale}, {"failed target", ColorFailed}, {"healthy row", ColorOK},
		} {
			if n := countColour(img, parseHex(t, c.hex)); n < 2000 {
				t.Errorf("%s colour %s: %d pixels in the screenshot, want at least 2000 (table not rendered?)", c.name, c.hex, n)
			}
		}
		// PPTER_TEST_ARTIFACTS names a directory to keep the screenshot in, for a look.
		if dir := os.Getenv("PPTER_TEST_ARTIFACTS"); dir != "" {
			data, _ := os.ReadFile(shot)
			_ = os.WriteFile(filepath.Join(dir, "statuspage.png"), data, 0o644)
		}
	})
}
