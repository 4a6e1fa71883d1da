package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
)

// Store is what accounts writes to the metadata store.
type Store interface {
	CreateUser(ctx context.Context, u auth.User) error
	SetMembership(ctx context.Context, orgID, userID string, role access.Role) error
	CreateToken(ctx context.Context, t auth.Token) error
	RecordAudit(ctx context.Context, e audit.Entry) error
}

// Service creates users and tokens in its store.
type Service struct{ store Store }

// New returns the service of s.
func New(s Store) *Service { return &Service{store: s} }

// Actor is who creates an account, as the audit log names them: a kind
// ("cli", "server", "user", "token") and an id for users and tokens.
type Actor struct {
	Kind, ID string
}

// NewUser is a user to create.
type NewUser struct {
	// Email is how they sign in (required, an address with an @).
	Email string
	// Name is the name others see; the part of the email before the @
	// when empty.
	Name string
	// Password must meet auth's policy (12 to 256 characters).
	Password string
	// OrgID is the organization they join, with Role on all of it ("":
	// no role of its own, as for a user given one dashboard's role).
	OrgID string
	Role  access.Role
	// By is who creates them; Why, when set, says why in the audit log
	// ("first admin", "demo").
	By  Actor
	Why string
}

// CheckEmail refuses what is not an email address (field email), as
// CreateUser does, for callers that check before they touch the store.
func CheckEmail(email string) error {
	if !strings.Contains(email, "@") {
		return &apperr.Error{Code: apperr.Invalid, Field: "email", Message: fmt.Sprintf("%q is not an email address", email)}
	}
	return nil
}

// CreateUser creates the user, makes them a member of the organization and
// audits it there. Errors name the field at fault (email, password); an
// email in use is a conflict.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (auth.User, error) {
	email := strings.TrimSpace(nu.Email)
	if err := CheckEmail(email); err != nil {
		return auth.User{}, err
	}
	hash, err := auth.HashPassword(nu.Password)
	if err != nil {
		return auth.User{}, err
	}
	u := auth.User{ID: auth.NewID("usr"), Email: email, Name: strings.TrimSpace(nu.Name), PasswordHash: hash}
	if u.Name == "" {
		u.Name = u.DisplayName()
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return auth.User{}, err
	}
	if err := s.store.SetMembership(ctx, nu.OrgID, u.ID, nu.Role); err != nil {
		return auth.User{}, err
	}
	role := string(nu.Role)
	if role == "" {
		role = "no role"
	}
	detail := fmt.Sprintf("%s, %s on the organization", email, role)
	if nu.Why != "" {
		detail = nu.Why + ": " + detail
	}
	if err := s.record(ctx, nu.OrgID, nu.By, "user_created", u.ID, detail); err != nil {
		return auth.User{}, err
	}
	return u, nil
}

// NewToken is an API token to create.
type NewToken struct {
	// OrgID is the organization the token acts in.
	OrgID string
	// Name says what it is for (1 to 100 bytes).
	Name string
	// Scopes are the permissions it holds, by name (at least one).
	Scopes []string
	// Charts, when not empty, are the only charts it may act on.
	Charts []string
	// By is who creates it.
	By Actor
}

// MaxTokenName is the longest token name, in bytes.
const MaxTokenName = 100

// Check reports what CreateToken would refuse of nt before it touches the
// store: an error naming the field at fault (name, scopes).
func (nt NewToken) Check() error {
	_, _, err := nt.check()
	return err
}

func (nt NewToken) check() (string, []access.Permission, error) {
	name := strings.TrimSpace(nt.Name)
	if name == "" || len(name) > MaxTokenName {
		return "", nil, &apperr.Error{Code: apperr.Invalid, Field: "name", Message: fmt.Sprintf("a name of 1 to %d bytes is required", MaxTokenName)}
	}
	if len(nt.Scopes) == 0 {
		return "", nil, &apperr.Error{Code: apperr.Invalid, Field: "scopes", Message: "at least one permission is required, e.g. publish_data"}
	}
	scopes := make([]access.Permission, len(nt.Scopes))
	for i, sc := range nt.Scopes {
		p, err := access.ParsePermission(sc)
		if err != nil {
			return "", nil, err
		}
		scopes[i] = p
	}
	return name, scopes, nil
}

// CreateToken creates an API token and audits it: it returns the token's
// secret, which is shown once and stored only as its hash, and the token.
// Errors name the field at fault (name, scopes); an organization that does
// not exist is not_found.
func (s *Service) CreateToken(ctx context.Context, nt NewToken) (string, auth.Token, error) {
	name, scopes, err := nt.check()
	if err != nil {
		return "", auth.Token{}, err
	}
	createdBy := nt.By.ID
	if createdBy == "" {
		createdBy = nt.By.Kind
	}
	secret, hash := auth.NewToken()
	t := auth.Token{ID: auth.NewID("tok"), OrgID: nt.OrgID, Name: name, SecretHash: hash, Scopes: scopes, Charts: nt.Charts, CreatedBy: createdBy, CreatedAt: time.Now()}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", auth.Token{}, err
	}
	names := make([]string, len(scopes))
	for i, p := range scopes {
		names[i] = string(p)
	}
	if err := s.record(ctx, t.OrgID, nt.By, "token_created", t.ID, t.Name+": "+strings.Join(names, ",")); err != nil {
		return "", auth.Token{}, err
	}
	return secret, t, nil
}

// record audits an account's creation, with the client address ctx
// carries; it is recorded even if the caller has gone meanwhile.
func (s *Service) record(ctx context.Context, orgID string, by Actor, action, target, detail string) error {
	e := audit.Entry{OrgID: orgID, ActorKind: by.Kind, ActorID: by.ID, Action: action, Target: target, Outcome: "ok", Detail: detail, IP: audit.IPFrom(ctx)}
	return s.store.RecordAudit(context.WithoutCancel(ctx), e)
}
