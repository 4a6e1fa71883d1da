package ashreportstest_test

import (
	"net/http"
	"testing"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/ashreportstest"
	"github.com/ashreports/ashreports/internal/leaktest"
)

func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}

func TestNewServer(t *testing.T) {
	srv := ashreportstest.NewServer(t, ashreports.Config{NoDemo: true})
	get := func() int {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	url := srv.URL
	srv.Restart()
	if srv.URL != url || get() != http.StatusOK {
		t.Errorf("after a restart: %s, want %s serving", srv.URL, url)
	}
	srv.Close()
	if _, err := http.Get(srv.URL + "/healthz"); err == nil {
		t.Error("a closed server answers")
	}
}
