package web

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/audit"
)

func TestAddrKey(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:80":  "2001:db8:1:2::/64",
		"[::ffff:10.0.0.1]:80":       "::ffff:10.0.0.1",
	} {
		if got := addrKey(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("addrKey(%s) = %s, want %s", addr, got, want)
		}
	}
}

// TestLocalPath: the sign-in form redirects only to paths of this site.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/dashboards/ops?x=1":  "/dashboards/ops?x=1",
		"/":                    "/",
		"":                     "/",
		"https://evil.example": "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"/\t/evil.example":     "/",
		"/\n/evil.example":     "/",
		"dashboards":           "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCookieFlags: session cookies are HttpOnly, and Secure when the
// request came over TLS.
func TestCookieFlags(t *testing.T) {
	for _, overTLS := range []bool{false, true} {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		if overTLS {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		setCookie(w, r, sessionCookie, "v", time.Now().Add(time.Hour), http.SameSiteLaxMode)
		c := w.Result().Cookies()[0]
		if !c.HttpOnly || c.Secure != overTLS || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Errorf("over TLS %v: cookie %+v", overTLS, c)
		}
	}
}

// TestAuditOutlivesTheRequest: a change is audited even if its client
// hung up while it was being made.
func TestAuditOutlivesTheRequest(t *testing.T) {
	rec := &auditRecorder{}
	s := &server{Config: Config{Audit: rec, Logger: slog.New(slog.DiscardHandler)}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client has gone
	r := httptest.NewRequestWithContext(ctx, http.MethodPut, "/api/v1/charts/sales/definition", nil)
	s.audit(r, audit.Entry{Action: "chart_edited", Target: "sales"})
	if len(rec.entries) != 1 || rec.entries[0].Action != "chart_edited" || rec.entries[0].IP == "" {
		t.Errorf("audited %+v, want the chart_edited entry with the client's address", rec.entries)
	}
}
