package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/accounts"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Admin is what the administration API needs of the metadata store.
type Admin interface {
	Members(ctx context.Context, orgID string) ([]auth.Member, error)
	SetMembership(ctx context.Context, orgID, userID string, role access.Role) error
	RemoveMembership(ctx context.Context, orgID, userID string) error
	SetDashboardRole(ctx context.Context, dashboardID, userID string, role access.Role) error
	RemoveDashboardRole(ctx context.Context, dashboardID, userID string) error
	Tokens(ctx context.Context, orgID string) ([]auth.Token, error)
	RevokeToken(ctx context.Context, orgID, id string) error
}

// Provisioning tells what the start could not provision into an
// organization (package provision).
type Provisioning interface {
	Conflicts(orgID string) []dashboard.ChartIDTaken
}

// Accounts creates API tokens (package accounts), checked and audited as
// the command line's.
type Accounts interface {
	CreateToken(ctx context.Context, nt accounts.NewToken) (string, auth.Token, error)
}

// readJSON decodes a JSON request body of at most MaxBodyBytes into v,
// refusing other content types and unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return apperr.Errorf(apperr.Unsupported, "content type %q is not application/json", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.Errorf(apperr.TooLarge, "request body larger than %d bytes", MaxBodyBytes)
		}
		return apperr.Errorf(apperr.Invalid, "request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.Errorf(apperr.Invalid, "request body: more than one JSON value")
	}
	return nil
}

// adminAction authorizes a state-changing administration request: the
// permission on the resource, and CSRF for cookie sessions.
func (s *server) adminAction(r *http.Request, p access.Permission, res access.Resource) error {
	if err := s.Guard.Check(r.Context(), who(r.Context()), p, res); err != nil {
		return err
	}
	if r.Method != http.MethodGet {
		return checkCSRF(r, who(r.Context()))
	}
	return nil
}

// orgOf is the organization of the request's subject, the one the
// administration routes act on.
func orgOf(r *http.Request) access.Resource {
	return access.Resource{OrgID: who(r.Context()).OrgID}
}

func (s *server) auditAdmin(r *http.Request, action, target, detail string) {
	id := who(r.Context())
	s.audit(r, audit.Entry{OrgID: id.OrgID, ActorKind: id.Kind.String(), ActorID: id.ID, Action: action, Target: target, Outcome: "ok", Detail: detail})
}

type memberJSON struct {
	UserID string      `json:"user_id"`
	Email  string      `json:"email"`
	Name   string      `json:"name"`
	Role   access.Role `json:"role"`
}

// apiMembers lists the organization's members: GET /api/v1/members.
func (s *server) apiMembers(w http.ResponseWriter, r *http.Request) {
	if err := s.adminAction(r, access.AdministerOrg, orgOf(r)); err != nil {
		writeError(w, err)
		return
	}
	ms, err := s.Admin.Members(r.Context(), orgOf(r).OrgID)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = memberJSON{m.UserID, m.Email, m.Name, m.Role}
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

type roleBody struct {
	Role string `json:"role"`
}

// parseRoleBody reads {"role": …}; allowEmpty accepts "" (a member with
// no role on the whole organization).
func parseRoleBody(w http.ResponseWriter, r *http.Request, allowEmpty bool) (access.Role, error) {
	var b roleBody
	if err := readJSON(w, r, &b); err != nil {
		return "", err
	}
	if b.Role == "" && allowEmpty {
		return "", nil
	}
	return access.ParseRole(b.Role)
}

// member refuses, not_found, a user who is not a member of organization
// orgID: whether they exist elsewhere is not told.
func (s *server) member(ctx context.Context, orgID, userID string) error {
	ms, err := s.Admin.Members(ctx, orgID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ms, func(m auth.Member) bool { return m.UserID == userID }) {
		return apperr.Errorf(apperr.NotFound, "no member %q in this organization", userID)
	}
	return nil
}

// apiSetMember changes a member's role on the organization: PUT
// /api/v1/members/{user} {"role": "editor"|""}. It does not add users:
// an organization's admin must not pull in (and learn about) users of
// other organizations; `ashreports user add --org` does that.
func (s *server) apiSetMember(w http.ResponseWriter, r *http.Request) {
	res := orgOf(r)
	if err := s.adminAction(r, access.AdministerOrg, res); err != nil {
		writeError(w, err)
		return
	}
	role, err := parseRoleBody(w, r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	userID := r.PathValue("user")
	if err := s.member(r.Context(), res.OrgID, userID); err != nil {
		writeError(w, err)
		return
	}
	if err := s.Admin.SetMembership(r.Context(), res.OrgID, userID, role); err != nil {
		writeError(w, err)
		return
	}
	s.auditAdmin(r, "role_set", res.OrgID, userID+": "+string(role)+" on the organization")
	writeJSON(w, http.StatusOK, map[string]any{"user_id": userID, "role": role})
}

// apiRemoveMember takes a user out of the organization: DELETE
// /api/v1/members/{user}.
func (s *server) apiRemoveMember(w http.ResponseWriter, r *http.Request) {
	res := orgOf(r)
	if err := s.adminAction(r, access.AdministerOrg, res); err != nil {
		writeError(w, err)
		return
	}
	userID := r.PathValue("user")
	if err := s.member(r.Context(), res.OrgID, userID); err != nil {
		writeError(w, err)
		return
	}
	if err := s.Admin.RemoveMembership(r.Context(), res.OrgID, userID); err != nil {
		writeError(w, err)
		return
	}
	s.auditAdmin(r, "member_removed", res.OrgID, userID)
	w.WriteHeader(http.StatusNoContent)
}

// apiSetDashboardRole gives a member a role on a dashboard: PUT
// /api/v1/dashboards/{id}/roles/{user} {"role": "viewer"}.
func (s *server) apiSetDashboardRole(w http.ResponseWriter, r *http.Request) {
	dash := r.PathValue("id")
	if err := s.changeDashboard(r, access.ManageDashboard, dash); err != nil {
		writeError(w, err)
		return
	}
	role, err := parseRoleBody(w, r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	userID := r.PathValue("user")
	if err := s.Admin.SetDashboardRole(r.Context(), dash, userID, role); err != nil {
		writeError(w, err)
		return
	}
	s.auditAdmin(r, "role_set", dash, userID+": "+string(role)+" on dashboard "+dash)
	writeJSON(w, http.StatusOK, map[string]any{"dashboard": dash, "user_id": userID, "role": role})
}

// apiRemoveDashboardRole takes a member's role on a dashboard away:
// DELETE /api/v1/dashboards/{id}/roles/{user}.
func (s *server) apiRemoveDashboardRole(w http.ResponseWriter, r *http.Request) {
	dash := r.PathValue("id")
	if err := s.changeDashboard(r, access.ManageDashboard, dash); err != nil {
		writeError(w, err)
		return
	}
	userID := r.PathValue("user")
	// The dashboard is in the subject's organization: the check passed.
	if err := s.member(r.Context(), who(r.Context()).OrgID, userID); err != nil {
		writeError(w, err)
		return
	}
	if err := s.Admin.RemoveDashboardRole(r.Context(), dash, userID); err != nil {
		writeError(w, err)
		return
	}
	s.auditAdmin(r, "role_removed", dash, userID+" on dashboard "+dash)
	w.WriteHeader(http.StatusNoContent)
}

type tokenJSON struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Scopes     []access.Permission `json:"scopes"`
	Charts     []string            `json:"charts"`
	CreatedBy  string              `json:"created_by,omitempty"`
	CreatedAt  time.Time           `json:"created_at"`
	LastUsedAt *time.Time          `json:"last_used_at"`
	RevokedAt  *time.Time          `json:"revoked_at"`
	Secret     string              `json:"secret,omitempty"`
}

func tokenOut(t auth.Token) tokenJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	charts := t.Charts
	if charts == nil {
		charts = []string{}
	}
	return tokenJSON{ID: t.ID, Name: t.Name, Scopes: t.Scopes, Charts: charts, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, LastUsedAt: opt(t.LastUsedAt), RevokedAt: opt(t.RevokedAt)}
}

// apiTokens lists the organization's API tokens (never their secrets):
// GET /api/v1/tokens.
func (s *server) apiTokens(w http.ResponseWriter, r *http.Request) {
	res := orgOf(r)
	if err := s.adminAction(r, access.AdministerOrg, res); err != nil {
		writeError(w, err)
		return
	}
	ts, err := s.Admin.Tokens(r.Context(), res.OrgID)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenOut(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// apiCreateToken creates an API token and shows its secret, once: POST
// /api/v1/tokens {"name", "scopes", "charts"}.
func (s *server) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	res := orgOf(r)
	if err := s.adminAction(r, access.AdministerOrg, res); err != nil {
		writeError(w, err)
		return
	}
	var b struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
		Charts []string `json:"charts"`
	}
	if err := readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	by := who(r.Context())
	secret, t, err := s.Accounts.CreateToken(r.Context(), accounts.NewToken{OrgID: res.OrgID, Name: b.Name, Scopes: b.Scopes, Charts: b.Charts,
		By: accounts.Actor{Kind: by.Kind.String(), ID: by.ID}})
	if err != nil {
		writeError(w, err)
		return
	}
	out := tokenOut(t)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

// apiRevokeToken revokes one of the organization's tokens: DELETE
// /api/v1/tokens/{id}.
func (s *server) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	res := orgOf(r)
	if err := s.adminAction(r, access.AdministerOrg, res); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	if err := s.Admin.RevokeToken(r.Context(), res.OrgID, id); err != nil {
		writeError(w, err)
		return
	}
	s.auditAdmin(r, "token_revoked", id, "")
	w.WriteHeader(http.StatusNoContent)
}

type adminPageData struct {
	Members     []auth.Member
	Tokens      []auth.Token
	Roles       []access.Role
	Permissions []access.Permission
	// Conflicts are the charts of dashboard files the start left out.
	Conflicts []dashboard.ChartIDTaken
}

// adminPage shows an organization's members and API tokens to its admins,
// with controls that call the administration API: GET /admin.
func (s *server) adminPage(w http.ResponseWriter, r *http.Request) {
	res := orgOf(r)
	if err := s.adminAction(r, access.AdministerOrg, res); err != nil {
		s.errorPage(w, r, err)
		return
	}
	ms, err := s.Admin.Members(r.Context(), res.OrgID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	ts, err := s.Admin.Tokens(r.Context(), res.OrgID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin", pageData{Title: s.Catalog.T("admin.title"),
		AdminPage: &adminPageData{Members: ms, Tokens: ts, Roles: access.Roles, Permissions: access.Permissions, Conflicts: s.conflicts(res.OrgID)}})
}

// conflicts are organization orgID's provisioning conflicts, none when
// the server was wired without provisioning.
func (s *server) conflicts(orgID string) []dashboard.ChartIDTaken {
	if s.Provisioning == nil {
		return nil
	}
	return s.Provisioning.Conflicts(orgID)
}
