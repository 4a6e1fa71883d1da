package auth

import (
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
)

// DefaultOrg is the organization every server starts with; dashboards
// that name none belong to it.
const DefaultOrg = "default"

// Organization is a tenant.
type Organization struct {
	ID   string
	Name string
}

// User is a person who signs in. PasswordHash is an encoded hash (see
// HashPassword), never the password.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
}

// DisplayName is the name others see: the user's name, else the part of
// their email before the @ (never the address).
func (u User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	name, _, _ := strings.Cut(u.Email, "@")
	return name
}

// Membership is a user's place in an organization: Role is the role on
// every dashboard of it, "" when the user holds roles on some dashboards
// only.
type Membership struct {
	OrgID string
	Role  access.Role
}

// Member is a user's place in an organization, with who they are.
type Member struct {
	UserID string
	Email  string
	Name   string
	Role   access.Role
}

// Session is a signed-in browser. IDHash is the hash of the id its
// cookie carries; the id itself is never stored.
type Session struct {
	IDHash         string
	UserID         string
	OrgID          string
	CSRFToken      string
	MaxConnections int
	CreatedAt      time.Time
	LastSeenAt     time.Time
	ExpiresAt      time.Time
	RevokedAt      time.Time // zero: not revoked
	IP             string
	UserAgent      string
}

// Token is an API token. Only a hash of its secret is stored.
type Token struct {
	ID         string
	OrgID      string
	Name       string
	SecretHash string
	Scopes     []access.Permission
	Charts     []string
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

// Subject is the token as the authorization function sees it: its scope
// in its organization.
func (t Token) Subject() access.Subject {
	return access.Subject{Kind: access.Token, ID: t.ID, OrgID: t.OrgID, Scopes: t.Scopes, Charts: t.Charts}
}
