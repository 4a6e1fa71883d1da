package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/ratelimit"
)

// Sessions resolves the credentials a request carries to the subject that
// asks, and starts and ends browser sessions (package authz).
type Sessions interface {
	// Token resolves an Authorization header; an unknown or revoked token
	// is unauthorized.
	Token(ctx context.Context, header string, now time.Time) (access.Subject, error)
	// Session resolves a session cookie's value; an ended session is
	// unauthorized.
	Session(ctx context.Context, cookie string, now time.Time) (access.Subject, error)
	// Start begins a session: the cookie's value and the session.
	Start(ctx context.Context, userID, orgID, ip, userAgent string, now time.Time) (string, auth.Session, error)
	// End ends a session, its live connections too.
	End(ctx context.Context, idHash string) error
}

// Users finds the user who signs in, and their organizations.
type Users interface {
	UserByEmail(ctx context.Context, email string) (auth.User, error)
	Memberships(ctx context.Context, userID string) ([]auth.Membership, error)
}

// AuditLog keeps the audit log and reads an organization's.
type AuditLog interface {
	RecordAudit(ctx context.Context, e audit.Entry) error
	AuditLog(ctx context.Context, orgID string, before int64, limit int) ([]audit.Entry, error)
}

// Cookie names. The session cookie holds the session id (stored only as
// its hash); the login cookie the anti-CSRF value of the sign-in form.
const (
	sessionCookie = "ashreports_session"
	loginCookie   = "ashreports_login"
)

type subjectKey struct{}

// who returns the subject identify attached to ctx: anonymous when the
// request carried no credentials, or ended ones.
func who(ctx context.Context) access.Subject {
	sub, _ := ctx.Value(subjectKey{}).(access.Subject)
	return sub
}

// identify attaches the request's subject: a session cookie, or an API
// token in "Authorization: Bearer". Ended or unknown credentials leave the
// request anonymous (and a dead session cookie is cleared); an unknown or
// revoked token is refused at once, so that a machine learns why. The
// client address goes with the request's audit entries.
func (s *server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sub access.Subject
		now := time.Now()
		ctx := audit.WithIP(r.Context(), clientIP(r))
		if h := r.Header.Get("Authorization"); h != "" {
			tok, err := s.Sessions.Token(ctx, h, now)
			if err != nil {
				writeError(w, err)
				return
			}
			sub = tok
		} else if c, err := r.Cookie(sessionCookie); err == nil {
			if ss, err := s.Sessions.Session(ctx, c.Value, now); err == nil {
				sub = ss
			} else {
				if apperr.CodeOf(err) == apperr.Internal {
					s.Logger.Error("session", "err", err)
				}
				clearCookie(w, r, sessionCookie)
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, subjectKey{}, sub)))
	})
}

// checkCSRF refuses a state-changing request made with a session cookie
// unless it carries the session's CSRF token (header X-CSRF-Token, or
// form field csrf_token) and, when the browser says where it comes from,
// comes from this site. Requests with an API token carry no ambient
// credential and need neither.
func checkCSRF(r *http.Request, id access.Subject) error {
	if !id.SignedIn() {
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			return apperr.Errorf(apperr.Forbidden, "request from another site (Origin %s)", o)
		}
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(id.CSRFToken)) != 1 {
		return apperr.Errorf(apperr.Forbidden, "missing or wrong CSRF token: reload the page and try again")
	}
	return nil
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Expires: expires, HttpOnly: true, Secure: r.TLS != nil, SameSite: sameSite})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// clientIP is the address the request came from (the server does not
// trust forwarding headers).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// addrKey is the rate-limit key of a client address (IPv6 by its /64).
func addrKey(r *http.Request) string { return ratelimit.AddrKey(clientIP(r)) }

// localPath returns next when it is a path on this site, else "/": the
// sign-in form never redirects elsewhere.
func localPath(next string) string {
	// Browsers drop tabs and newlines and read \ as /, so "/\t/x" and
	// "/\\x" would leave the site: any of them, or "//", is refused.
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// loginLimits are the sign-in rate limits: per client address, and per
// account (whatever the address), against password guessing.
type loginLimits struct {
	ip, account *ratelimit.Limiter
	// audited bounds the audit entries of refused attempts: one a minute
	// per email, so that a flood of attempts cannot flood the log.
	audited *ratelimit.Limiter
}

func newLoginLimits() loginLimits {
	return loginLimits{
		ip:      ratelimit.New(10.0/60, 10, 10000), // 10 a minute
		account: ratelimit.New(1.0/60, 5, 10000),   // 5, then one a minute
		audited: ratelimit.New(1.0/60, 1, 10000),
	}
}

// loginForm shows the sign-in form, with a fresh anti-CSRF value that the
// form and a cookie both carry.
func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	if who(r.Context()).SignedIn() {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "", "")
}

func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, email, problem string) {
	token := rand.Text()
	setCookie(w, r, loginCookie, token, time.Now().Add(time.Hour), http.SameSiteStrictMode)
	next := r.URL.Query().Get("next")
	if next == "" {
		next = r.PostFormValue("next")
	}
	s.render(w, r, status, "login", pageData{Title: s.Catalog.T("login.title"), Login: &loginData{Email: email, Next: localPath(next), Token: token, Problem: problem}})
}

type loginData struct {
	Email, Next, Token, Problem string
}

// login checks a password and starts a session: POST /login.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "", s.Catalog.T("login.bad_form"))
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf_token"))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, "", s.Catalog.T("login.expired_form"))
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	ip, now := clientIP(r), time.Now()
	if ok, wait := s.loginLimits.ip.Allow(addrKey(r), now); !ok {
		s.tooManyLogins(w, r, email, wait)
		return
	}
	if ok, wait := s.loginLimits.account.Allow(strings.ToLower(email), now); !ok {
		s.tooManyLogins(w, r, email, wait)
		return
	}
	u, err := s.checkPassword(r.Context(), email, r.PostFormValue("password"))
	if errors.Is(err, auth.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		s.renderLogin(w, r, http.StatusTooManyRequests, email, s.Catalog.T("login.busy"))
		return
	}
	if err != nil {
		if apperr.CodeOf(err) != apperr.Unauthorized {
			s.errorPage(w, r, err)
			return
		}
		s.auditFailedLogin(r, u.ID, email, apperr.From(err).Message)
		s.renderLogin(w, r, http.StatusUnauthorized, email, s.Catalog.T("login.wrong"))
		return
	}
	ms, err := s.Users.Memberships(r.Context(), u.ID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if len(ms) == 0 {
		s.audit(r, audit.Entry{ActorKind: "user", ActorID: u.ID, Action: "login_failed", Target: u.ID, Outcome: "denied", Detail: "member of no organization"})
		s.renderLogin(w, r, http.StatusForbidden, email, s.Catalog.T("login.no_org"))
		return
	}
	// A new session id at every sign-in (the old session, if any, ends):
	// an id planted before sign-in is worth nothing after it.
	if old := who(r.Context()); old.SignedIn() {
		if err := s.Sessions.End(r.Context(), old.Session); err != nil {
			s.errorPage(w, r, err)
			return
		}
	}
	sid, ss, err := s.Sessions.Start(r.Context(), u.ID, ms[0].OrgID, ip, r.UserAgent(), now)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, sid, ss.ExpiresAt, http.SameSiteLaxMode)
	clearCookie(w, r, loginCookie)
	s.audit(r, audit.Entry{OrgID: ss.OrgID, ActorKind: "user", ActorID: u.ID, Action: "login", Target: u.ID, Outcome: "ok"})
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// Passwords checks passwords, a bounded number at once (auth.Hasher).
type Passwords interface {
	// Check reports whether password matches encoded; an empty encoded
	// (an unknown email) costs as much and reports false. It returns
	// auth.ErrBusy when too many checks are running.
	Check(ctx context.Context, encoded, password string) (bool, error)
}

func (s *server) checkPassword(ctx context.Context, email, password string) (auth.User, error) {
	u, err := s.Users.UserByEmail(ctx, email)
	if err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return u, err
	}
	ok, herr := s.Passwords.Check(ctx, u.PasswordHash, password)
	switch {
	case herr != nil:
		return u, herr
	case err != nil:
		return u, apperr.Errorf(apperr.Unauthorized, "unknown email")
	case !ok:
		return u, apperr.Errorf(apperr.Unauthorized, "wrong password")
	}
	return u, nil
}

// auditFailedLogin records a failed sign-in in each organization of the
// user it was for (so that their admins see it), or in none for an
// unknown email.
func (s *server) auditFailedLogin(r *http.Request, userID, email, why string) {
	e := audit.Entry{ActorKind: "anonymous", Action: "login_failed", Target: email, Outcome: "denied", Detail: why}
	if userID == "" {
		s.audit(r, e)
		return
	}
	ms, err := s.Users.Memberships(r.Context(), userID)
	if err != nil || len(ms) == 0 {
		s.audit(r, e)
		return
	}
	for _, m := range ms {
		e.OrgID = m.OrgID
		s.audit(r, e)
	}
}

func (s *server) tooManyLogins(w http.ResponseWriter, r *http.Request, email string, wait time.Duration) {
	if ok, _ := s.loginLimits.audited.Allow(strings.ToLower(email), time.Now()); ok {
		var userID string
		if u, err := s.Users.UserByEmail(r.Context(), email); err == nil {
			userID = u.ID
		}
		s.auditFailedLogin(r, userID, email, "rate limited (further refusals within a minute are not recorded)")
	}
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
	s.renderLogin(w, r, http.StatusTooManyRequests, email, s.Catalog.T("login.too_many", "seconds", ratelimit.RetryAfterSeconds(wait)))
}

// logout ends the session: POST /logout, with the CSRF token.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	id := who(r.Context())
	if !id.SignedIn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err := checkCSRF(r, id); err != nil {
		s.errorPage(w, r, err)
		return
	}
	if err := s.Sessions.End(r.Context(), id.Session); err != nil {
		s.errorPage(w, r, err)
		return
	}
	clearCookie(w, r, sessionCookie)
	s.audit(r, audit.Entry{OrgID: id.OrgID, ActorKind: "user", ActorID: id.ID, Action: "logout", Target: id.ID, Outcome: "ok"})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// audit records e with the request's address; a failure to record is
// logged, not shown. What happened is recorded even if the client has
// gone meanwhile (a save that took long is still saved).
func (s *server) audit(r *http.Request, e audit.Entry) {
	e.IP = clientIP(r)
	if err := s.Audit.RecordAudit(context.WithoutCancel(r.Context()), e); err != nil {
		s.Logger.Error("audit", "action", e.Action, "err", err)
	}
}
