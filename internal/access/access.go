package access

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ashreports/ashreports/internal/apperr"
)

// Role is what a user may do on a dashboard, or on every dashboard of an
// organization when held on the organization.
type Role string

// The roles, from least to most. Each has the permissions of those before
// it and more.
const (
	Viewer  Role = "viewer"
	Analyst Role = "analyst"
	Editor  Role = "editor"
	Admin   Role = "admin"
)

// Roles lists the roles from least to most.
var Roles = []Role{Viewer, Analyst, Editor, Admin}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Roles, r) {
		return "", &apperr.Error{Code: apperr.Invalid, Field: "role", Message: fmt.Sprintf("unknown role %q: want viewer, analyst, editor or admin", s)}
	}
	return r, nil
}

// rank orders roles; 0 is no role.
func (r Role) rank() int { return slices.Index(Roles, r) + 1 }

// Permission is one kind of action.
type Permission string

// The permissions.
const (
	// ViewCharts: see a dashboard, its charts and their live updates.
	ViewCharts Permission = "view_charts"
	// ExportData: download a chart's data (CSV, images).
	ExportData Permission = "export_data"
	// EditCharts: change charts and the dashboard's layout and filters.
	EditCharts Permission = "edit_charts"
	// PublishData: push updates to a dashboard's charts.
	PublishData Permission = "publish_data"
	// ManageDashboard: give and take a dashboard's roles.
	ManageDashboard Permission = "manage_dashboard"
	// AdministerOrg: manage the organization's members, tokens and audit
	// log; held through the organization's admin role only.
	AdministerOrg Permission = "administer_org"
)

// Permissions lists every permission.
var Permissions = []Permission{ViewCharts, ExportData, EditCharts, PublishData, ManageDashboard, AdministerOrg}

// ParsePermission returns the permission named s.
func ParsePermission(s string) (Permission, error) {
	p := Permission(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Permissions, p) {
		names := make([]string, len(Permissions))
		for i, p := range Permissions {
			names[i] = string(p)
		}
		return "", &apperr.Error{Code: apperr.Invalid, Field: "scopes", Message: fmt.Sprintf("unknown permission %q: want one of %s", s, strings.Join(names, ", "))}
	}
	return p, nil
}

// least is the least role holding each permission on a dashboard.
var least = map[Permission]Role{
	ViewCharts:      Viewer,
	ExportData:      Analyst,
	EditCharts:      Editor,
	PublishData:     Editor,
	ManageDashboard: Admin,
	AdministerOrg:   Admin, // and on the organization only: see Decide
}

// Has reports whether r grants p on a dashboard.
func (r Role) Has(p Permission) bool {
	l, ok := least[p]
	return ok && r.rank() >= l.rank() && p != AdministerOrg
}

// Kind is what a Subject is.
type Kind uint8

// The kinds of subject.
const (
	// Anonymous: no session, no token.
	Anonymous Kind = iota
	// User: a signed-in person, through a session.
	User
	// Token: a machine, through an API token.
	Token
)

// String names the kind in the audit log: anonymous, user or token.
func (k Kind) String() string {
	switch k {
	case User:
		return "user"
	case Token:
		return "token"
	}
	return "anonymous"
}

// Subject is who asks: a user's roles in the organization of the request,
// or a token's scope, as the authorization function sees them, and for a
// person signed in through a browser, the session they act through. It is
// the one form of "who is asking" of every door (HTTP, sockets, rooms,
// the Go API).
type Subject struct {
	Kind Kind
	// ID is the user's or the token's id, for the audit log.
	ID string
	// Name is a user's display name, as others see it; "" for a token.
	Name string
	// OrgID is the organization the subject acts in.
	OrgID string
	// OrgRole is a user's role on every dashboard of the organization
	// (admin also administers the organization); "" for a member who has
	// roles on some dashboards only.
	OrgRole Role
	// DashboardRoles are a user's roles on single dashboards.
	DashboardRoles map[string]Role
	// Scopes are a token's permissions.
	Scopes []Permission
	// Charts, when not empty, are the only charts a token may act on.
	Charts []string
	// Session is, for a user signed in through a browser session, the
	// hash of the session's id; "" for tokens and calls from Go. CSRFToken
	// is the session's anti-CSRF token, and MaxConns how many live
	// connections it may hold at once (0: no bound).
	Session   string
	CSRFToken string
	MaxConns  int
}

// SignedIn reports whether the subject is a person signed in through a
// browser session (which carries ambient credentials: a cookie).
func (s Subject) SignedIn() bool { return s.Kind == User && s.Session != "" }

// Identified refuses an anonymous subject (unauthorized), whatever it
// asks: a door calls it before it looks anything up, so that nobody learns
// what exists without credentials.
func Identified(s Subject) error {
	if s.Kind == Anonymous {
		return deny(apperr.Unauthorized, "sign in or send an API token").Err()
	}
	return nil
}

// ErrNoResource is in the chain of an error about a dashboard or chart
// that does not exist (any more), as opposed to one the subject may not
// see: both are not_found to the subject, but a live connection drops a
// removed chart and keeps going.
var ErrNoResource = errors.New("no such resource")

// RoleOn is a user's role on a dashboard: the higher of the
// organization's and the dashboard's own; "" when neither.
func (s Subject) RoleOn(dashboardID string) Role {
	role := s.OrgRole
	if dr := s.DashboardRoles[dashboardID]; dr.rank() > role.rank() {
		role = dr
	}
	return role
}

// Resource is what an action is on. DashboardID is empty for actions on
// the organization; ChartID is empty for actions on a whole dashboard.
type Resource struct {
	OrgID       string
	DashboardID string
	ChartID     string
}

// Decision is the outcome of Decide: allowed, or why not.
type Decision struct {
	Allowed bool
	// Code is unauthorized (nobody signed in), not_found (another
	// organization's resource, or a dashboard the user holds no role on:
	// its existence is not revealed) or forbidden.
	Code   apperr.Code
	Reason string
}

// Err is nil when d allows, else the error to show.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &apperr.Error{Code: d.Code, Message: d.Reason}
}

func allow() Decision { return Decision{Allowed: true} }

func deny(code apperr.Code, format string, args ...any) Decision {
	return Decision{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Decide is the one authorization function: HTTP handlers, the WebSocket
// subscribe path, the Go API and filtered streams all ask it whether s may
// do p on r.
func Decide(s Subject, p Permission, r Resource) Decision {
	if _, ok := least[p]; !ok {
		return deny(apperr.Forbidden, "unknown permission %q", p)
	}
	if s.Kind == Anonymous {
		return deny(apperr.Unauthorized, "sign in or send an API token")
	}
	if s.OrgID == "" || s.OrgID != r.OrgID {
		return deny(apperr.NotFound, "%s", notFound(r))
	}
	if s.Kind == Token {
		return decideToken(s, p, r)
	}
	if p == AdministerOrg {
		if s.OrgRole == Admin {
			return allow()
		}
		return deny(apperr.Forbidden, "administering the organization needs its admin role")
	}
	role := s.OrgRole
	if r.DashboardID != "" {
		role = s.RoleOn(r.DashboardID)
	} else if role == "" {
		// An action on the organization's dashboards in general (listing,
		// creating) needs an organization-wide role.
		return deny(apperr.Forbidden, "this needs a role on the organization")
	}
	if role == "" {
		return deny(apperr.NotFound, "%s", notFound(r))
	}
	if !role.Has(p) {
		return deny(apperr.Forbidden, "%s needs the %s role; you have %s", action(p), least[p], role)
	}
	return allow()
}

func decideToken(s Subject, p Permission, r Resource) Decision {
	if !slices.Contains(s.Scopes, p) {
		return deny(apperr.Forbidden, "the token's scope does not include %s", p)
	}
	if len(s.Charts) > 0 && !slices.Contains(s.Charts, r.ChartID) {
		if r.ChartID == "" {
			return deny(apperr.Forbidden, "the token is limited to some charts")
		}
		return deny(apperr.Forbidden, "the token is not for chart %q", r.ChartID)
	}
	return allow()
}

// NotFound is the error for r when it does not exist: the same, in code
// and text, as a denial of another organization's r, so that the two
// cannot be told apart.
func NotFound(r Resource) error {
	return deny(apperr.NotFound, "%s", notFound(r)).Err()
}

func notFound(r Resource) string {
	switch {
	case r.ChartID != "":
		return fmt.Sprintf("chart %q not found", r.ChartID)
	case r.DashboardID != "":
		return fmt.Sprintf("dashboard %q not found", r.DashboardID)
	}
	return "not found"
}

// action names a permission for messages.
func action(p Permission) string {
	switch p {
	case ViewCharts:
		return "viewing charts"
	case ExportData:
		return "exporting data"
	case EditCharts:
		return "editing charts"
	case PublishData:
		return "publishing data"
	case ManageDashboard:
		return "managing the dashboard"
	}
	return string(p)
}
