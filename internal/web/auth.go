package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/ratelimit"
)

// Identities is what the web layer needs of the metadata store to know
// who asks: sessions, users, their roles, tokens, and the audit log.
type Identities interface {
	CreateSession(ctx context.Context, s auth.Session) error
	Session(ctx context.Context, idHash string) (auth.Session, error)
	TouchSession(ctx context.Context, idHash string, t time.Time) error
	RevokeSession(ctx context.Context, idHash string) error
	UserByEmail(ctx context.Context, email string) (auth.User, error)
	User(ctx context.Context, id string) (auth.User, error)
	Memberships(ctx context.Context, userID string) ([]auth.Membership, error)
	Subject(ctx context.Context, orgID, userID string) (access.Subject, error)
	DashboardOrg(ctx context.Context, id string) (string, error)
	ChartResource(ctx context.Context, id string) (access.Resource, error)
	TokenBySecretHash(ctx context.Context, hash string) (auth.Token, error)
	TouchToken(ctx context.Context, id string, t time.Time) error
	RecordAudit(ctx context.Context, e audit.Entry) error
	AuditLog(ctx context.Context, orgID string, before int64, limit int) ([]audit.Entry, error)
}

// Cookie names. The session cookie holds the session id (stored only as
// its hash); the login cookie the anti-CSRF value of the sign-in form.
const (
	sessionCookie = "ashreports_session"
	loginCookie   = "ashreports_login"
)

// identity is who a request comes from. A request without credentials,
// or with ended ones, is anonymous.
type identity struct {
	sub     access.Subject
	user    auth.User     // a signed-in user
	session *auth.Session // the session of a signed-in browser
	token   *auth.Token   // a machine's API token
}

func (id *identity) signedIn() bool { return id.session != nil }

type identityKey struct{}

// who returns the identity that identify attached to ctx.
func who(ctx context.Context) *identity {
	if id, ok := ctx.Value(identityKey{}).(*identity); ok {
		return id
	}
	return &identity{}
}

// touchEvery is how stale a session's or token's last-use time may get
// before a request writes it again: one write per minute, not per request.
const touchEvery = time.Minute

// identify attaches the request's identity: a session cookie, or an API
// token in "Authorization: Bearer". Ended or unknown credentials leave the
// request anonymous (and a dead session cookie is cleared); an unknown or
// revoked token is refused at once, so that a machine learns why.
func (s *server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := &identity{}
		now := time.Now()
		if h := r.Header.Get("Authorization"); h != "" {
			tok, err := s.tokenIdentity(r.Context(), h, now)
			if err != nil {
				writeError(w, err)
				return
			}
			id = tok
		} else if c, err := r.Cookie(sessionCookie); err == nil {
			if sid, err := s.sessionIdentity(r.Context(), c.Value, now); err == nil {
				id = sid
			} else {
				if apperr.CodeOf(err) == apperr.Internal {
					s.Logger.Error("session", "err", err)
				}
				clearCookie(w, r, sessionCookie)
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

func (s *server) tokenIdentity(ctx context.Context, header string, now time.Time) (*identity, error) {
	secret, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || !strings.HasPrefix(secret, auth.TokenPrefix) {
		return nil, apperr.Errorf(apperr.Unauthorized, `the Authorization header must be "Bearer %s…"`, auth.TokenPrefix)
	}
	t, err := s.Identities.TokenBySecretHash(ctx, auth.HashToken(secret))
	if err != nil {
		return nil, err
	}
	if !t.RevokedAt.IsZero() {
		return nil, apperr.Errorf(apperr.Unauthorized, "the API token %s was revoked", t.ID)
	}
	if now.Sub(t.LastUsedAt) >= touchEvery {
		// Use is audited once per minute at most, like the last-use time.
		if err := s.Identities.TouchToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
		if err := s.Identities.RecordAudit(ctx, audit.Entry{OrgID: t.OrgID, ActorKind: "token", ActorID: t.ID, Action: "token_used", Target: t.ID, Outcome: "ok", Detail: t.Name}); err != nil {
			return nil, err
		}
	}
	return &identity{token: &t, sub: access.Subject{Kind: access.Token, ID: t.ID, OrgID: t.OrgID, Scopes: t.Scopes, Charts: t.Charts}}, nil
}

func (s *server) sessionIdentity(ctx context.Context, cookie string, now time.Time) (*identity, error) {
	ss, err := s.Identities.Session(ctx, auth.HashToken(cookie))
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSession(ss, s.Sessions, now); err != nil {
		return nil, err
	}
	if now.Sub(ss.LastSeenAt) >= touchEvery {
		if err := s.Identities.TouchSession(ctx, ss.IDHash, now); err != nil {
			return nil, err
		}
	}
	u, err := s.Identities.User(ctx, ss.UserID)
	if err != nil {
		return nil, err
	}
	sub, err := s.Identities.Subject(ctx, ss.OrgID, ss.UserID)
	if err != nil {
		return nil, err
	}
	return &identity{sub: sub, user: u, session: &ss}, nil
}

// checkCSRF refuses a state-changing request made with a session cookie
// unless it carries the session's CSRF token (header X-CSRF-Token, or
// form field csrf_token) and, when the browser says where it comes from,
// comes from this site. Requests with an API token carry no ambient
// credential and need neither.
func checkCSRF(r *http.Request, id *identity) error {
	if !id.signedIn() {
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
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(id.session.CSRFToken)) != 1 {
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

// addrKey is the rate-limit key of a client address: IPv6 addresses by
// their /64, which one client commonly holds whole.
func addrKey(r *http.Request) string {
	ip := net.ParseIP(clientIP(r))
	if ip == nil || ip.To4() != nil {
		return clientIP(r)
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

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
	if who(r.Context()).signedIn() {
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
	if err != nil {
		if apperr.CodeOf(err) != apperr.Unauthorized {
			s.errorPage(w, r, err)
			return
		}
		s.auditFailedLogin(r, u.ID, email, apperr.From(err).Message)
		s.renderLogin(w, r, http.StatusUnauthorized, email, s.Catalog.T("login.wrong"))
		return
	}
	ms, err := s.Identities.Memberships(r.Context(), u.ID)
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
	if old := who(r.Context()); old.signedIn() {
		if err := s.Identities.RevokeSession(r.Context(), old.session.IDHash); err != nil {
			s.errorPage(w, r, err)
			return
		}
		s.endSession(old.session.IDHash)
	}
	sid, ss := auth.NewSession(u.ID, ms[0].OrgID, s.Sessions, now)
	ss.IP, ss.UserAgent = ip, truncate(r.UserAgent(), 256)
	if err := s.Identities.CreateSession(r.Context(), ss); err != nil {
		s.errorPage(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, sid, ss.ExpiresAt, http.SameSiteLaxMode)
	clearCookie(w, r, loginCookie)
	s.audit(r, audit.Entry{OrgID: ss.OrgID, ActorKind: "user", ActorID: u.ID, Action: "login", Target: u.ID, Outcome: "ok"})
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// dummyHash is checked against when the email is unknown, so that a
// wrong email takes as long as a wrong password.
// It is made at the first sign-in, not when the package loads: an argon2id
// hash costs 19 MiB and tens of milliseconds, which every command and
// test binary would pay.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("not the password of anybody")
	return h
})

func (s *server) checkPassword(ctx context.Context, email, password string) (auth.User, error) {
	u, err := s.Identities.UserByEmail(ctx, email)
	if err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return u, err
	}
	hash := u.PasswordHash
	if err != nil {
		hash = dummyHash()
	}
	ok, herr := auth.CheckPassword(hash, password)
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
	ms, err := s.Identities.Memberships(r.Context(), userID)
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
		if u, err := s.Identities.UserByEmail(r.Context(), email); err == nil {
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
	if !id.signedIn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err := checkCSRF(r, id); err != nil {
		s.errorPage(w, r, err)
		return
	}
	if err := s.Identities.RevokeSession(r.Context(), id.session.IDHash); err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.endSession(id.session.IDHash)
	clearCookie(w, r, sessionCookie)
	s.audit(r, audit.Entry{OrgID: id.sub.OrgID, ActorKind: "user", ActorID: id.user.ID, Action: "logout", Target: id.user.ID, Outcome: "ok"})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// endSession tells the live layer that a session ended, so that its
// sockets close at once.
func (s *server) endSession(idHash string) {
	if s.SessionEnded != nil {
		s.SessionEnded(idHash)
	}
}

// audit records e with the request's address; a failure to record is
// logged, not shown. What happened is recorded even if the client has
// gone meanwhile (a save that took long is still saved).
func (s *server) audit(r *http.Request, e audit.Entry) {
	e.IP = clientIP(r)
	if err := s.Identities.RecordAudit(context.WithoutCancel(r.Context()), e); err != nil {
		s.Logger.Error("audit", "action", e.Action, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
