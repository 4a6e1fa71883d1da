package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/engine"
)

// The subjects of the handler tests: a token that may publish to
// organization o, and an editor of it signed in through a browser.
var (
	publisher = access.Subject{Kind: access.Token, ID: "tok", OrgID: "o", Scopes: []access.Permission{access.PublishData, access.ViewCharts}}
	ada       = access.Subject{Kind: access.User, ID: "ada", Name: "Ada", OrgID: "o", OrgRole: access.Editor, Session: "sess", CSRFToken: "csrf"}
)

// sessionsOf resolves the token "ashr_ok" to publisher and the session
// cookie "ada" to ada; anything else is unauthorized.
func sessionsOf(t *testing.T) *fakeSessions {
	return &fakeSessions{t: t,
		TokenFn: func(_ context.Context, header string, _ time.Time) (access.Subject, error) {
			if header != "Bearer ashr_ok" {
				return access.Subject{}, apperr.Errorf(apperr.Unauthorized, "unknown API token")
			}
			return publisher, nil
		},
		SessionFn: func(_ context.Context, cookie string, _ time.Time) (access.Subject, error) {
			if cookie != "ada" {
				return access.Subject{}, apperr.Errorf(apperr.Unauthorized, "you were signed out: sign in again")
			}
			return ada, nil
		},
	}
}

// errorBody reads a response in the JSON error shape.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) apperr.Body {
	t.Helper()
	var b struct {
		Error apperr.Body `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("%d %q is not the JSON error shape: %v", w.Code, w.Body, err)
	}
	return b.Error
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestIdentify: a bad or unknown token is refused at once with 401 in the
// JSON error shape; an ended session's cookie leaves the request
// anonymous, and is cleared.
func TestIdentify(t *testing.T) {
	h := testHandler(t, Config{Sessions: sessionsOf(t)}, &auditRecorder{})
	for _, header := range []string{"Bearer ashr_nope", "Basic x", "Bearer "} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/dashboards", nil)
		r.Header.Set("Authorization", header)
		w := serve(h, r)
		if b := errorBody(t, w); w.Code != http.StatusUnauthorized || b.Code != apperr.Unauthorized {
			t.Errorf("Authorization %q: %d %+v, want 401 unauthorized", header, w.Code, b)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/dashboards", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ended"})
	w := serve(h, r)
	if b := errorBody(t, w); w.Code != http.StatusUnauthorized || b.Code != apperr.Unauthorized {
		t.Errorf("an ended session: %d %+v, want 401", w.Code, b)
	}
	cleared := false
	for _, c := range w.Result().Cookies() {
		cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("an ended session's cookie was not cleared")
	}
}

// TestPublishRequest: POST /api/v1/charts/{id}/updates takes a JSON op of
// at most MaxBodyBytes from who may publish, with a priority, and replies
// with the op's stream and offset; what it refuses never reaches the
// engine.
func TestPublishRequest(t *testing.T) {
	var applied []engine.Priority
	charts := &fakeCharts{t: t, ApplyFn: func(_ context.Context, id string, op chart.Op, pri engine.Priority) (engine.Stream, uint64, error) {
		applied = append(applied, pri)
		return engine.Stream{ID: id, ChartID: id}, 7, nil
	}}
	rec := &auditRecorder{}
	h := testHandler(t, Config{Sessions: sessionsOf(t), Charts: charts}, rec)
	op := `{"op":"append","rows":[["a",1]]}`
	send := func(path, ct, body string, who func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		who(r)
		return serve(h, r)
	}
	token := func(r *http.Request) { r.Header.Set("Authorization", "Bearer ashr_ok") }
	for _, tc := range []struct {
		name, path, ct, body string
		who                  func(*http.Request)
		status               int
		code                 apperr.Code
		field                string
	}{
		{"not JSON", "/api/v1/charts/orders/updates", "text/plain", op, token, 415, apperr.Unsupported, ""},
		{"too large", "/api/v1/charts/orders/updates", "application/json", `{"op":"append","rows":[["` + strings.Repeat("x", MaxBodyBytes) + `",1]]}`, token, 413, apperr.TooLarge, ""},
		{"bad priority", "/api/v1/charts/orders/updates?priority=urgent", "application/json", op, token, 400, apperr.Invalid, "priority"},
		{"bad op", "/api/v1/charts/orders/updates", "application/json", `{"op":"explode"}`, token, 400, apperr.Invalid, "op"},
		{"no such chart", "/api/v1/charts/nope/updates", "application/json", op, token, 404, apperr.NotFound, ""},
		{"anonymous", "/api/v1/charts/orders/updates", "application/json", op, func(*http.Request) {}, 401, apperr.Unauthorized, ""},
		{"session without CSRF token", "/api/v1/charts/orders/updates", "application/json", op, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ada"})
		}, 403, apperr.Forbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := send(tc.path, tc.ct, tc.body, tc.who)
			if b := errorBody(t, w); w.Code != tc.status || b.Code != tc.code || b.Field != tc.field {
				t.Errorf("%d %+v, want %d %s on %q", w.Code, b, tc.status, tc.code, tc.field)
			}
		})
	}
	if len(applied) != 0 {
		t.Fatalf("refused requests reached the engine %d times", len(applied))
	}
	w := send("/api/v1/charts/orders/updates?priority=high", "application/json", op, token)
	var reply struct {
		Chart, Stream string
		Offset        uint64
	}
	if err := json.Unmarshal(w.Body.Bytes(), &reply); w.Code != 200 || err != nil || reply.Offset != 7 || reply.Stream != "orders" {
		t.Fatalf("a good publish: %d %s", w.Code, w.Body)
	}
	w = send("/api/v1/charts/orders/updates", "application/json", op, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ada"})
		r.Header.Set("X-CSRF-Token", "csrf")
	})
	if w.Code != 200 || len(applied) != 2 || applied[0] != engine.High || applied[1] != engine.Normal {
		t.Errorf("publishes with a token and with a session: %d %s, priorities %v", w.Code, w.Body, applied)
	}
}

// TestSaveDefinition: a save goes to the editor with the subject and the
// version; the reply is the definition the editor saved, the audit entry
// says what changed; the editor's field errors are named as the request's
// JSON names them.
func TestSaveDefinition(t *testing.T) {
	def := dashboard.Chart{ID: "orders", Config: chart.Config{Type: chart.Line, Title: "Orders", Encoding: chart.Encoding{X: "t", Y: "n"}}}
	var fail error
	editor := &fakeEditor{t: t, SaveChartFn: func(_ context.Context, by access.Subject, d dashboard.Chart, version int) (dashboard.Chart, int, string, error) {
		if fail != nil {
			return dashboard.Chart{}, 0, "", fail
		}
		if by.ID != "ada" || version != 3 {
			t.Errorf("saved by %q at version %d", by.ID, version)
		}
		d.Width = dashboard.DefaultWidth // the editor fills defaults in
		return d, 4, "title", nil
	}}
	rec := &auditRecorder{}
	h := testHandler(t, Config{Sessions: sessionsOf(t), Editor: editor}, rec)
	put := func() *httptest.ResponseRecorder {
		b, _ := json.Marshal(map[string]any{"chart": def, "version": 3})
		r := httptest.NewRequest(http.MethodPut, "/api/v1/charts/orders/definition", strings.NewReader(string(b)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-CSRF-Token", "csrf")
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ada"})
		return serve(h, r)
	}
	w := put()
	var got definitionJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != 200 || err != nil || got.Version != 4 || got.Chart.Width != dashboard.DefaultWidth {
		t.Fatalf("save: %d %s", w.Code, w.Body)
	}
	if a := rec.actions(); len(a) != 1 || a[0] != "chart_edited" || rec.entries[0].Detail != "title" || rec.entries[0].IP == "" {
		t.Errorf("audited %+v", rec.entries)
	}
	for field, want := range map[string]string{"title": "config.title", "encoding.y": "config.encoding.y", "query.sql": "query.sql", "id": "chart.id"} {
		fail = &chart.FieldError{Field: field, Message: "wrong"}
		if b := errorBody(t, put()); b.Code != apperr.Invalid || b.Field != want {
			t.Errorf("the editor's error on %s: %+v, want invalid on %s", field, b, want)
		}
	}
}

// TestSignIn: a wrong password is 401 and audited; a right one ends the
// browser's previous session, starts one in the user's first organization
// and sets its cookie.
func TestSignIn(t *testing.T) {
	hash, err := auth.HashPassword("the right password")
	if err != nil {
		t.Fatal(err)
	}
	users := &fakeUsers{t: t,
		UserByEmailFn: func(_ context.Context, email string) (auth.User, error) {
			if email != "ada@example.com" {
				return auth.User{}, apperr.Errorf(apperr.NotFound, "no user")
			}
			return auth.User{ID: "ada", Email: email, PasswordHash: hash}, nil
		},
		MembershipsFn: func(context.Context, string) ([]auth.Membership, error) {
			return []auth.Membership{{OrgID: "o", Role: access.Editor}}, nil
		},
	}
	var ended, started []string
	sessions := sessionsOf(t)
	sessions.EndFn = func(_ context.Context, idHash string) error { ended = append(ended, idHash); return nil }
	sessions.StartFn = func(_ context.Context, userID, orgID, ip, _ string, now time.Time) (string, auth.Session, error) {
		started = append(started, userID+"@"+orgID)
		return "new-cookie", auth.Session{ExpiresAt: now.Add(time.Hour)}, nil
	}
	rec := &auditRecorder{}
	h := testHandler(t, Config{Sessions: sessions, Users: users}, rec)
	login := func(pw string) *httptest.ResponseRecorder {
		form := url.Values{"email": {"ada@example.com"}, "password": {pw}, "csrf_token": {"form"}}
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: loginCookie, Value: "form"})
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ada"})
		return serve(h, r)
	}
	if w := login("a wrong password"); w.Code != http.StatusUnauthorized || len(started) != 0 {
		t.Errorf("a wrong password: %d, %d sessions started", w.Code, len(started))
	}
	w := login("the right password")
	if w.Code != http.StatusSeeOther || len(started) != 1 || started[0] != "ada@o" || len(ended) != 1 || ended[0] != "sess" {
		t.Errorf("sign-in: %d, started %v, ended %v", w.Code, started, ended)
	}
	set := false
	for _, c := range w.Result().Cookies() {
		set = set || (c.Name == sessionCookie && c.Value == "new-cookie" && c.HttpOnly)
	}
	if !set {
		t.Error("the new session's cookie was not set")
	}
	if a := strings.Join(rec.actions(), ","); a != "login_failed,login" {
		t.Errorf("audited %s, want login_failed,login", a)
	}
}
