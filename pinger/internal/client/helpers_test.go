package client

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ppter/ppter/shared/site"
)

type sitename = site.Name

func fakeHandler(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// needLoopback2 skips unless 127.0.0.2 can be a source address (Linux answers for all of
// 127.0.0.0/8), as the command's tests do.
func needLoopback2(t *testing.T) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not an address of this host: %v", err)
	}
	c.Close()
}
