package accounts

import (
	"context"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
)

// memStore keeps what the service writes.
type memStore struct {
	users  []auth.User
	roles  map[string]access.Role
	tokens []auth.Token
	log    []audit.Entry
}

func (m *memStore) CreateUser(_ context.Context, u auth.User) error {
	for _, o := range m.users {
		if strings.EqualFold(o.Email, u.Email) {
			return &apperr.Error{Code: apperr.Conflict, Field: "email", Message: "taken"}
		}
	}
	m.users = append(m.users, u)
	return nil
}

func (m *memStore) SetMembership(_ context.Context, orgID, userID string, role access.Role) error {
	m.roles[orgID+"/"+userID] = role
	return nil
}

func (m *memStore) CreateToken(_ context.Context, t auth.Token) error {
	if t.OrgID != "o" {
		return apperr.Errorf(apperr.NotFound, "no organization %q", t.OrgID)
	}
	m.tokens = append(m.tokens, t)
	return nil
}

func (m *memStore) RecordAudit(_ context.Context, e audit.Entry) error {
	m.log = append(m.log, e)
	return nil
}

func TestCreateUser(t *testing.T) {
	st := &memStore{roles: map[string]access.Role{}}
	s := New(st)
	ctx := audit.WithIP(context.Background(), "192.0.2.7")
	u, err := s.CreateUser(ctx, NewUser{Email: " ada@example.com ", Password: "a long enough password", OrgID: "o", Role: access.Editor, By: Actor{Kind: "cli"}, Why: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" || u.Name != "ada" || !strings.HasPrefix(u.ID, "usr_") || st.roles["o/"+u.ID] != access.Editor {
		t.Errorf("user %+v, role %q", u, st.roles["o/"+u.ID])
	}
	if ok, _ := auth.CheckPassword(u.PasswordHash, "a long enough password"); !ok {
		t.Error("the stored hash does not check the password")
	}
	if len(st.log) != 1 || st.log[0].Action != "user_created" || st.log[0].ActorKind != "cli" || st.log[0].IP != "192.0.2.7" ||
		!strings.Contains(st.log[0].Detail, "demo: ada@example.com, editor") || strings.Contains(st.log[0].Detail, "password") {
		t.Errorf("audited %+v", st.log)
	}
	for _, tc := range []struct {
		nu    NewUser
		field string
	}{
		{NewUser{Email: "ada", Password: "a long enough password", OrgID: "o"}, "email"},
		{NewUser{Email: "bob@example.com", Password: "short", OrgID: "o"}, "password"},
	} {
		if _, err := s.CreateUser(ctx, tc.nu); apperr.From(err).Field != tc.field {
			t.Errorf("%+v: %v, want invalid %s", tc.nu, err, tc.field)
		}
	}
	if _, err := s.CreateUser(ctx, NewUser{Email: "ADA@example.com", Password: "a long enough password", OrgID: "o"}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("an email in use: %v, want conflict", err)
	}
}

func TestCreateToken(t *testing.T) {
	st := &memStore{roles: map[string]access.Role{}}
	s := New(st)
	ctx := context.Background()
	secret, tok, err := s.CreateToken(ctx, NewToken{OrgID: "o", Name: " ci ", Scopes: []string{"publish_data", " view_charts"}, Charts: []string{"orders"}, By: Actor{Kind: "user", ID: "ada"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || tok.SecretHash != auth.HashToken(secret) || tok.Name != "ci" || tok.CreatedBy != "ada" ||
		len(tok.Scopes) != 2 || tok.Scopes[1] != access.ViewCharts || len(st.tokens) != 1 {
		t.Errorf("token %+v", tok)
	}
	if len(st.log) != 1 || st.log[0].Action != "token_created" || strings.Contains(st.log[0].Detail, secret) || st.log[0].Detail != "ci: publish_data,view_charts" {
		t.Errorf("audited %+v", st.log)
	}
	for _, tc := range []struct {
		nt    NewToken
		code  apperr.Code
		field string
	}{
		{NewToken{OrgID: "o", Name: "", Scopes: []string{"view_charts"}}, apperr.Invalid, "name"},
		{NewToken{OrgID: "o", Name: strings.Repeat("n", MaxTokenName+1), Scopes: []string{"view_charts"}}, apperr.Invalid, "name"},
		{NewToken{OrgID: "o", Name: "x"}, apperr.Invalid, "scopes"},
		{NewToken{OrgID: "o", Name: "x", Scopes: []string{"publish"}}, apperr.Invalid, "scopes"},
		{NewToken{OrgID: "nope", Name: "x", Scopes: []string{"view_charts"}}, apperr.NotFound, ""},
	} {
		if _, _, err := s.CreateToken(ctx, tc.nt); apperr.CodeOf(err) != tc.code || apperr.From(err).Field != tc.field {
			t.Errorf("%+v: %v, want %s on %q", tc.nt, err, tc.code, tc.field)
		}
	}
	if len(st.tokens) != 1 {
		t.Errorf("refused tokens were stored: %d", len(st.tokens))
	}
}
