package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/store"
)

// cli runs the command line with stdin, in the data directory dir.
func cli(t *testing.T, dir, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, env(map[string]string{"ASHREPORTS_DATA_DIR": dir}), strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func openData(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), store.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestUserAdd: the first admin is created with a password printed once
// (and only its hash stored), or read from standard input; a second run
// changes the role only; bad input names the flag and stores nothing.
func TestUserAdd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out, err := cli(t, dir, "", "user", "add", "--email", "ann@example.com", "--role", "admin")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "admin on organization default") {
		t.Fatalf("output %q", out)
	}
	s := openData(t, dir)
	ann, err := s.UserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.CheckPassword(ann.PasswordHash, m[1]); !ok || err != nil || ann.Name != "ann" {
		t.Fatalf("the printed password does not sign Ann in (%v, %v), or name %q", ok, err, ann.Name)
	}
	if db, _ := os.ReadFile(store.Path(dir)); bytes.Contains(db, []byte(m[1])) {
		t.Error("the password is stored in clear")
	}
	if sub, _ := s.Subject(ctx, auth.DefaultOrg, ann.ID); sub.OrgRole != access.Admin {
		t.Errorf("Ann's role %q, want admin", sub.OrgRole)
	}

	out, err = cli(t, dir, "a long enough password\n", "user", "add", "--email", "bob@example.com", "--name", "Bob", "--password-stdin")
	if err != nil || strings.Contains(out, "password:") {
		t.Fatalf("user add --password-stdin = %v, %q", err, out)
	}
	bob, _ := s.UserByEmail(ctx, "bob@example.com")
	if ok, _ := auth.CheckPassword(bob.PasswordHash, "a long enough password"); !ok {
		t.Error("Bob's password from standard input does not sign him in")
	}
	if sub, _ := s.Subject(ctx, auth.DefaultOrg, bob.ID); sub.OrgRole != access.Viewer {
		t.Errorf("Bob's default role %q, want viewer", sub.OrgRole)
	}
	// Again, with another role: the user is kept, the role changes.
	out, err = cli(t, dir, "", "user", "add", "--email", "BOB@example.com", "--role", "editor")
	if err != nil || !strings.Contains(out, "updated") || strings.Contains(out, "password:") {
		t.Fatalf("second user add = %v, %q", err, out)
	}
	if again, _ := s.UserByEmail(ctx, "bob@example.com"); again.PasswordHash != bob.PasswordHash {
		t.Error("a role change touched the password")
	}
	if sub, _ := s.Subject(ctx, auth.DefaultOrg, bob.ID); sub.OrgRole != access.Editor {
		t.Errorf("Bob's role %q, want editor", sub.OrgRole)
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"--role", "admin"}, "--email"},
		{"", []string{"--email", "carl@example.com", "--role", "owner"}, "--role: unknown role"},
		{"short\n", []string{"--email", "carl@example.com", "--password-stdin"}, "--password-stdin: a password needs at least 12"},
		{"", []string{"--email", "carl@example.com", "--password-stdin"}, "--password-stdin: no password"},
		{"", []string{"--email", "carl@example.com", "--org", "nope"}, `--org: no organization "nope"`},
		{"", []string{"--email", "carl@example.com", "--dashboard", "nope"}, `--dashboard: organization default has no dashboard "nope"`},
		{"another long password\n", []string{"--email", "bob@example.com", "--password-stdin"}, "does not change passwords"},
	} {
		if _, err := cli(t, dir, tc.stdin, append([]string{"user", "add"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("user add %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if n, _ := s.UserCount(ctx); n != 2 {
		t.Errorf("%d users after the refused commands, want 2", n)
	}
}

func TestUserAddOnADashboard(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openData(t, dir)
	d := dashboard.Dashboard{ID: "ops", Title: "Ops", Charts: []dashboard.Chart{{ID: "cpu", Width: dashboard.DefaultWidth}}}
	d.Charts[0].Config.Type, d.Charts[0].Config.Title = "line", "CPU"
	d.Charts[0].Config.Encoding.X, d.Charts[0].Config.Encoding.Y = "t", "v"
	if err := s.PutDashboard(ctx, d, "file"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, dir, "", "user", "add", "--email", "dee@example.com", "--dashboard", "ops", "--role", "editor"); err != nil {
		t.Fatal(err)
	}
	dee, _ := s.UserByEmail(ctx, "dee@example.com")
	sub, err := s.Subject(ctx, auth.DefaultOrg, dee.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sub.OrgRole != "" || sub.DashboardRoles["ops"] != access.Editor {
		t.Errorf("subject %+v, want editor on ops only", sub)
	}
}

// TestTokenCreate: the secret is printed once and only its hash stored;
// bad scopes or organizations name the flag.
func TestTokenCreate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out, err := cli(t, dir, "", "token", "create", "--name", "ci", "--scopes", "publish_data, view_charts", "--charts", "a,b")
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(auth.TokenPrefix + `\S+`).FindString(out)
	if secret == "" {
		t.Fatalf("no secret in %q", out)
	}
	s := openData(t, dir)
	tok, err := s.TokenBySecretHash(ctx, auth.HashToken(secret))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "ci" || len(tok.Scopes) != 2 || strings.Join(tok.Charts, ",") != "a,b" || !tok.RevokedAt.IsZero() {
		t.Errorf("token %+v", tok)
	}
	if db, _ := os.ReadFile(store.Path(dir)); bytes.Contains(db, []byte(secret)) {
		t.Error("the token secret is stored in clear")
	}
	log, _ := s.AuditLog(ctx, auth.DefaultOrg, 0, 10)
	if len(log) != 1 || log[0].Action != "token_created" || strings.Contains(log[0].Detail, secret) {
		t.Errorf("audit %+v", log)
	}
	out, err = cli(t, dir, "", "token", "list")
	if err != nil || !strings.Contains(out, tok.ID) || !strings.Contains(out, "publish_data,view_charts") || !strings.Contains(out, "a,b") {
		t.Errorf("token list = %v, %q", err, out)
	}
	if _, err := cli(t, dir, "", "token", "revoke", "--id", "tok_nope"); err == nil || !strings.Contains(err.Error(), `--id: organization default has no token "tok_nope"`) {
		t.Errorf("revoke of an unknown token: %v", err)
	}
	if _, err := cli(t, dir, "", "token", "revoke", "--id", tok.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TokenBySecretHash(ctx, auth.HashToken(secret)); got.RevokedAt.IsZero() {
		t.Error("token revoke left the token valid")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scopes", "publish_data"}, "--name"},
		{[]string{"--name", "x"}, "--scopes: at least one"},
		{[]string{"--name", "x", "--scopes", "publish"}, `--scopes: unknown permission "publish"`},
		{[]string{"--name", "x", "--scopes", "publish_data", "--org", "nope"}, `--org: no organization "nope"`},
	} {
		if _, err := cli(t, dir, "", append([]string{"token", "create"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("token create %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestOrgAdd(t *testing.T) {
	dir := t.TempDir()
	if out, err := cli(t, dir, "", "org", "add", "--id", "globex", "--name", "Globex Corp"); err != nil || !strings.Contains(out, "globex (Globex Corp) created") {
		t.Fatalf("org add = %v, %q", err, out)
	}
	if _, err := cli(t, dir, "", "org", "add", "--id", "globex"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second org add: %v", err)
	}
	var ue usageError
	if _, err := cli(t, dir, "", "org", "add", "--id", "Bad Id"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--id") {
		t.Errorf("org add with a bad id: %v, want a usage error naming --id", err)
	}
	if _, err := cli(t, filepath.Join(dir, "x"), "", "user", "add", "--email", "e@example.com", "--org", "globex"); err == nil {
		t.Error("another data directory knows the organization")
	}
}
