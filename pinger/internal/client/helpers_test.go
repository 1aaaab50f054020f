package client

import (
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
