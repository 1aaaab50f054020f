package redistest

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Proxy is a TCP proxy in front of the test server that can withhold the replies to a
// chosen command, so a test can make a reply arrive "too late" (never, here) for the
// client's read timeout while the server still ran the command. No timer is involved: the
// reply is simply not delivered, and the client gives up on its own read timeout.
type Proxy struct {
	// URL is the proxy's redis:// URL, with the test server's database.
	URL string

	mu     sync.Mutex
	marker []byte // a request holding it has its replies withheld
	left   int    // how many more such requests to withhold
	held   int    // requests whose replies were withheld
	seen   int    // requests holding the marker
}

// NewProxy starts a proxy to the test server, closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy: %v", err)
	}
	p := &Proxy{URL: strings.Replace(URL(t), opt.Addr, l.Addr().String(), 1)}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		l.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", opt.Addr)
			if err != nil {
				c.Close()
				continue
			}
			conns.Store(c, nil)
			conns.Store(up, nil)
			var withhold sync.Once
			blackhole := make(chan struct{})
			wg.Add(2)
			go func() { // client → server
				defer wg.Done()
				defer up.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if p.match(buf[:n]) {
							withhold.Do(func() { close(blackhole) })
						}
						if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // server → client, until a withheld request
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := up.Read(buf)
					select {
					case <-blackhole:
						_, _ = io.Copy(io.Discard, up)
						return
					default:
					}
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// Withhold makes the proxy withhold every reply on the connection of each of the next n
// requests that contain marker (the server still receives and runs them).
func (p *Proxy) Withhold(marker string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.left = []byte(marker), n
}

func (p *Proxy) match(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.marker == nil || !bytes.Contains(b, p.marker) {
		return false
	}
	p.seen++
	if p.left == 0 {
		return false
	}
	p.left--
	p.held++
	return true
}

// Counts returns how many requests held the marker and how many of them had their
// replies withheld.
func (p *Proxy) Counts() (seen, held int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen, p.held
}
