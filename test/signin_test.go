package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/wait"
)

// TestSignInAndOut: a wrong password is refused and audited; the right
// one starts a session in an HttpOnly SameSite cookie with a new id;
// signing out needs the CSRF token and ends the session for good.
func TestSignInAndOut(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	ann := addUser(t, s, "ann@example.com", pw, access.Admin)
	c := cookieClient(t)

	// The form's token must come back: a cross-site sign-in is refused.
	resp := postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {"forged"}, "email": {ann.Email}, "password": {pw}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", resp.StatusCode)
	}
	_, _, token := page(t, c, s.URL+"/login")
	resp = postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {token}, "email": {ann.Email}, "password": {"a wrong password"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}

	// A session id planted before sign-in is not the one after it.
	planted := &http.Cookie{Name: "ashreports_session", Value: "PLANTED"}
	u, _ := url.Parse(s.URL)
	c.Jar.SetCookies(u, []*http.Cookie{planted})
	ck := signIn(t, s, c, ann.Email, pw)
	if ck.Value == planted.Value || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Errorf("session cookie %+v: want a new value, HttpOnly, SameSite=Lax, not Secure over plain HTTP", ck)
	}
	status, body, csrf := page(t, c, s.URL+"/")
	if status != http.StatusOK || !strings.Contains(body, "Signed in as ann") || csrf == "" {
		t.Fatalf("home page after sign-in: %d, signed in %v, CSRF %q", status, strings.Contains(body, "Signed in as ann"), csrf)
	}

	// Signing out needs the CSRF token, from this site.
	if r := postForm(t, c, s.URL+"/logout", url.Values{}, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403", r.StatusCode)
	}
	if r := postForm(t, c, s.URL+"/logout", url.Values{"csrf_token": {csrf}}, http.Header{"Origin": {"http://evil.example"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out from another site: %d, want 403", r.StatusCode)
	}
	if _, body, _ := page(t, c, s.URL+"/"); !strings.Contains(body, "Signed in as ann") {
		t.Fatal("a refused sign-out ended the session")
	}
	if r := postForm(t, c, s.URL+"/logout", url.Values{"csrf_token": {csrf}}, nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d, want 303", r.StatusCode)
	}
	// The old cookie, sent again, signs nobody in.
	again := cookieClient(t)
	again.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value}})
	if _, body, _ := page(t, again, s.URL+"/"); strings.Contains(body, "Signed in") {
		t.Error("the session cookie still works after sign-out")
	}

	log := s.auditLog(t, auth.DefaultOrg)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
		if strings.Contains(e.Detail+e.Target, pw) || strings.Contains(e.Detail+e.Target, ck.Value) {
			t.Errorf("audit entry %+v holds a secret", e)
		}
	}
	// Newest first; the demo's users were created before.
	if got := strings.Join(actions, ","); !strings.HasPrefix(got, "logout,login,login_failed,") {
		t.Errorf("audit of the organization: %s, want logout,login,login_failed first", got)
	}
}

// TestSignInRateLimit: password guessing on one account is stopped with
// 429 and Retry-After, even with the right password.
func TestSignInRateLimit(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "bob@example.com", pw, access.Viewer)
	c := cookieClient(t)
	var last *http.Response
	for i := range 6 {
		_, _, token := page(t, c, s.URL+"/login")
		last = postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {token}, "email": {"bob@example.com"}, "password": {"guess number " + string(rune('a'+i))}}, nil)
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth guess: %d, Retry-After %q; want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
	}
	_, _, token := page(t, c, s.URL+"/login")
	if r := postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {token}, "email": {"bob@example.com"}, "password": {pw}}, nil); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password while limited: %d, want 429", r.StatusCode)
	}
}

// TestBadTokenRefused: a malformed or unknown token gets 401 with the
// JSON error shape, on the API and on pages alike, even on one that needs
// no credentials: an operator learns why a misconfigured machine fails.
func TestBadTokenRefused(t *testing.T) {
	s := startServer(t)
	for _, path := range []string{"/api/v1/dashboards", "/", "/dashboards/ops", "/login"} {
		for _, h := range []string{"Basic abc", "Bearer ashr_unknown"} {
			req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
			req.Header.Set("Authorization", h)
			resp, err := cookieClient(t).Do(req) // follows no redirect: a page's own 401, not /login's
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"code":"unauthorized"`) {
				t.Errorf("GET %s with Authorization %q: %d %s, want 401 unauthorized", path, h, resp.StatusCode, b)
			}
		}
	}
}

// TestAPIRateLimit: past its limit a token gets 429 with Retry-After and
// the JSON error shape; another token is not affected.
func TestAPIRateLimit(t *testing.T) {
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemo: true, RateLimits: ashreports.RateLimits{Read: 1}}).start(t)
	// A burst of 2 goes through, then requests are refused. The budget
	// refills at one a second, so on a slow machine a few more may go
	// through before one is refused.
	var codes []int
	var last *http.Response
	for len(codes) < 10 && (last == nil || last.StatusCode != http.StatusTooManyRequests) {
		resp, err := authGet(s.URL + "/api/v1/dashboards")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes, last = append(codes, resp.StatusCode), resp
	}
	if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
		t.Errorf("the burst's requests: %v, want 200 200", codes[:2])
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") != "1" {
		t.Fatalf("requests %v, the last with Retry-After %q; want a 429 with 1", codes, last.Header.Get("Retry-After"))
	}
	// Publishing has its own budget.
	if code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp)); code != http.StatusOK {
		t.Errorf("publish while reads are limited: %d %v", code, body)
	}
}

// TestAuditLogForAdmins: an organization's admin reads its audit log (page
// and JSON) and sees sign-ins and denials; a viewer is refused and gets no
// link to it; no secret appears.
func TestAuditLogForAdmins(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "ada@example.com", pw, access.Admin)
	addUser(t, s, "vic@example.com", pw, access.Viewer)
	admin, viewer := cookieClient(t), cookieClient(t)
	signIn(t, s, admin, "ada@example.com", pw)
	ck := signIn(t, s, viewer, "vic@example.com", pw)
	// A denial to be audited: the viewer tries to publish.
	_, _, csrf := page(t, viewer, s.URL+"/")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/charts/orders/updates", strings.NewReader(seedOp))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	if code := do(t, viewer, req); code != http.StatusForbidden {
		t.Fatalf("viewer's publish: %d, want 403", code)
	}

	status, body, _ := page(t, admin, s.URL+"/admin/audit")
	if status != http.StatusOK || !strings.Contains(body, `href="/admin/audit"`) {
		t.Fatalf("admin's audit page: %d, link %v", status, strings.Contains(body, `href="/admin/audit"`))
	}
	for _, want := range []string{"login", "denied", "publish_data: publishing data needs the editor role; you have viewer", "user_created"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	if strings.Contains(body, pw) || strings.Contains(body, ck.Value) || strings.Contains(body, testToken) {
		t.Error("the audit page shows a secret")
	}
	resp, err := admin.Get(s.URL + "/api/v1/audit")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Entries []struct{ Action, Outcome string } `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.Entries) == 0 || out.Entries[0].Action != "denied" {
		t.Errorf("audit API: %d %+v %v", resp.StatusCode, out, err)
	}
	resp.Body.Close()

	if status, _, _ := page(t, viewer, s.URL+"/admin/audit"); status != http.StatusForbidden {
		t.Errorf("viewer's audit page: %d, want 403", status)
	}
	if _, home, _ := page(t, viewer, s.URL+"/"); strings.Contains(home, `href="/admin/audit"`) {
		t.Error("a viewer is shown the audit log link")
	}
	get := func(c *http.Client, url string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		return do(t, c, req)
	}
	if code := get(viewer, s.URL+"/api/v1/audit?before=x"); code != http.StatusForbidden {
		t.Errorf("viewer's audit API: %d, want 403", code)
	}
	if code := get(admin, s.URL+"/api/v1/audit?before=x"); code != http.StatusBadRequest {
		t.Errorf("audit API with a bad before: %d, want 400", code)
	}
}

// TestAdminAPI: an organization admin manages members and tokens over the
// API (with the CSRF token from a browser session); a token's secret is
// shown once and works; bad input names the field; nothing changes
// without the CSRF token.
func TestAdminAPI(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "ada@example.com", pw, access.Admin)
	bob := addUser(t, s, "bob@example.com", pw, access.Viewer)
	ada := signedIn(t, s, "ada", "ada@example.com", pw)
	call := func(a actor, method, path, body string) (int, map[string]any) {
		t.Helper()
		status, b := a.send(t, method, s.URL+path, body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return status, out
	}

	if code, _ := call(actor{c: ada.c}, "PUT", "/api/v1/members/"+bob.ID, `{"role":"editor"}`); code != http.StatusForbidden {
		t.Errorf("role change without the CSRF token: %d, want 403", code)
	}
	if code, out := call(ada, "PUT", "/api/v1/members/"+bob.ID, `{"role":"owner"}`); code != http.StatusBadRequest || out["error"].(map[string]any)["field"] != "role" {
		t.Errorf("unknown role: %d %v", code, out)
	}
	if code, _ := call(ada, "PUT", "/api/v1/members/"+bob.ID, `{"role":"editor"}`); code != http.StatusOK {
		t.Errorf("role change: %d", code)
	}
	if code, _ := call(ada, "PUT", "/api/v1/members/usr_of_another_org", `{"role":"viewer"}`); code != http.StatusNotFound {
		t.Errorf("a user who is no member: %d, want 404 (admins change members' roles, they do not pull users in)", code)
	}
	code, out := call(ada, "GET", "/api/v1/members", "")
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(out["members"]), "email:bob@example.com name:bob role:editor") {
		t.Errorf("members: %d %v", code, out)
	}

	code, out = call(ada, "POST", "/api/v1/tokens", `{"name":"ci","scopes":["publish_data"],"charts":["orders"]}`)
	secret, _ := out["secret"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(secret, "ashr_") {
		t.Fatalf("create token: %d %v", code, out)
	}
	id := out["id"].(string)
	if code, out := call(ada, "POST", "/api/v1/tokens", `{"name":"x","scopes":["publish"]}`); code != http.StatusBadRequest || out["error"].(map[string]any)["field"] != "scopes" {
		t.Errorf("bad scope: %d %v", code, out)
	}
	machine := func() int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/charts/orders/updates", strings.NewReader(seedOp))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		return do(t, http.DefaultClient, req)
	}
	if got := machine(); got != http.StatusOK {
		t.Errorf("publish with the new token: %d", got)
	}
	_, out = call(ada, "GET", "/api/v1/tokens", "")
	if list := fmt.Sprint(out["tokens"]); !strings.Contains(list, id) || strings.Contains(list, secret) {
		t.Errorf("token list: %v", list)
	}
	if code, _ := call(ada, "DELETE", "/api/v1/tokens/"+id, ""); code != http.StatusNoContent {
		t.Errorf("revoke: %d", code)
	}
	wait.For(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code := machine(); code != http.StatusUnauthorized {
			return fmt.Errorf("the revoked token still publishes (%d)", code)
		}
		return nil
	})
	if code, _ := call(ada, "DELETE", "/api/v1/members/"+bob.ID, ""); code != http.StatusNoContent {
		t.Errorf("remove member: %d", code)
	}
}

// TestRateLimitedSignInsAuditedOnce: a flood of refused sign-ins on one
// account writes one entry for the refusals, not one each.
func TestRateLimitedSignInsAuditedOnce(t *testing.T) {
	s := startServer(t)
	addUser(t, s, "bob@example.com", "a long enough password", access.Viewer)
	c := cookieClient(t)
	for i := range 12 {
		_, _, token := page(t, c, s.URL+"/login")
		postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {token}, "email": {"bob@example.com"}, "password": {fmt.Sprintf("guess number %d", i)}}, nil)
	}
	log := s.auditLog(t, auth.DefaultOrg)
	wrong, limited := 0, 0
	for _, e := range log {
		switch {
		case e.Action == "login_failed" && e.Detail == "wrong password":
			wrong++
		case e.Action == "login_failed" && strings.HasPrefix(e.Detail, "rate limited"):
			limited++
		}
	}
	if wrong != 5 || limited != 1 {
		t.Errorf("audit: %d wrong passwords, %d rate-limited entries; want 5 and 1 (7 attempts refused by the limit)", wrong, limited)
	}
}

// TestEndedSessionsAreDeleted: the server deletes sessions that expired
// or were revoked (at start, then every ten minutes), and keeps the
// others.
func TestEndedSessionsAreDeleted(t *testing.T) {
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemoGenerator: true, DemoOrg: auth.DefaultOrg})
	u := addUser(t, s, "vera@example.com", "a long enough password", access.Viewer)
	ctx := context.Background()
	db := s.db(t)
	now := time.Now()
	for _, ss := range []auth.Session{
		{IDHash: "expired", ExpiresAt: now.Add(-time.Minute)},
		{IDHash: "revoked", ExpiresAt: now.Add(time.Hour)},
		{IDHash: "live", ExpiresAt: now.Add(time.Hour)},
	} {
		ss.UserID, ss.OrgID, ss.CSRFToken, ss.MaxConnections = u.ID, auth.DefaultOrg, "c", 10
		ss.CreatedAt, ss.LastSeenAt = now.Add(-2*time.Hour), now.Add(-2*time.Hour)
		if err := db.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RevokeSession(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	// A hang guard: the first sweep comes within a second.
	wait.For(t, 10*time.Second, 100*time.Millisecond, func() error {
		_, errExpired := db.Session(ctx, "expired")
		_, errRevoked := db.Session(ctx, "revoked")
		if apperr.CodeOf(errExpired) != apperr.Unauthorized || apperr.CodeOf(errRevoked) != apperr.Unauthorized { // no such session
			return fmt.Errorf("ended sessions kept: %v, %v", errExpired, errRevoked)
		}
		return nil
	})
	if _, err := db.Session(ctx, "live"); err != nil {
		t.Errorf("the live session: %v", err)
	}
}
