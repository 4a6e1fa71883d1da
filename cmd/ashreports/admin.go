package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/accounts"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/store"
)

// admin runs the commands that manage identities in the metadata
// database of a data directory: user add, token create, org add. They may
// run while the server runs.
func admin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := args[0]
	if len(args) > 1 {
		cmd += " " + args[1]
	}
	switch cmd {
	case "user add":
		return userAdd(ctx, args[2:], getenv, stdin, stdout, stderr)
	case "token create":
		return tokenCreate(ctx, args[2:], getenv, stdout, stderr)
	case "token list":
		return tokenList(ctx, args[2:], getenv, stdout, stderr)
	case "token revoke":
		return tokenRevoke(ctx, args[2:], getenv, stdout, stderr)
	case "org add":
		return orgAdd(ctx, args[2:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", cmd)}
}

// storeFlags are the flags that find the data directory, with the same
// precedence as serve's: file, environment, flag.
type storeFlags struct {
	config, dataDir *string
	getenv          func(string) string
}

func addStoreFlags(fs *flag.FlagSet, getenv func(string) string) storeFlags {
	return storeFlags{
		config:  fs.String("config", getenv("ASHREPORTS_CONFIG"), "config file (YAML) naming the data directory; env ASHREPORTS_CONFIG"),
		dataDir: fs.String("data-dir", "", "data directory (default ./ashreports-data); env ASHREPORTS_DATA_DIR"),
		getenv:  getenv,
	}
}

func (f storeFlags) open(ctx context.Context) (*store.Store, error) {
	cfg := defaults()
	if *f.config != "" {
		var err error
		if cfg, err = loadFile(*f.config); err != nil {
			return nil, err
		}
	}
	if v := f.getenv("ASHREPORTS_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if *f.dataDir != "" {
		cfg.DataDir = *f.dataDir
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return store.OpenSQLite(ctx, store.Path(cfg.DataDir))
}

// parse parses args into fs, refusing positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// cliError makes a store or validation error a message naming the flag.
func cliError(err error, flagOf map[string]string) error {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return err
	}
	if f, ok := flagOf[e.Field]; ok {
		return fmt.Errorf("--%s: %s", f, e.Message)
	}
	return errors.New(e.Message)
}

func userAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs, getenv)
	email := fs.String("email", "", "the user's email, with which they sign in (required)")
	name := fs.String("name", "", "the name others see (default: the email's part before @)")
	org := fs.String("org", auth.DefaultOrg, "the organization the user joins")
	role := fs.String("role", string(access.Viewer), "viewer, analyst, editor or admin: on every dashboard of the organization, or on --dashboard only")
	dash := fs.String("dashboard", "", "give the role on this dashboard only (the user joins the organization without a role of its own)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (default: make one up and print it once)")
	if err := parse(fs, args); err != nil {
		return err
	}
	*email = strings.TrimSpace(*email)
	if err := accounts.CheckEmail(*email); err != nil {
		return usageError{cliError(err, map[string]string{"email": "email"})}
	}
	r, err := access.ParseRole(*role)
	if err != nil {
		return usageError{cliError(err, map[string]string{"role": "role"})}
	}
	s, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Organization(ctx, *org); err != nil {
		return fmt.Errorf("--org: %s (create it with ashreports org add)", apperr.From(err).Message)
	}
	if *dash != "" {
		if o, err := s.DashboardOrg(ctx, *dash); err != nil || o != *org {
			return fmt.Errorf("--dashboard: organization %s has no dashboard %q", *org, *dash)
		}
	}

	u, err := s.UserByEmail(ctx, *email)
	created := false
	switch {
	case apperr.CodeOf(err) == apperr.NotFound:
		password := auth.NewPassword()
		if *pwStdin {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("--password-stdin: no password on standard input")
			}
			password = strings.TrimRight(line, "\r\n")
		}
		orgRole := r
		if *dash != "" {
			orgRole = "" // the role is the dashboard's only
		}
		u, err = accounts.New(s).CreateUser(ctx, accounts.NewUser{Email: *email, Name: *name, Password: password, OrgID: *org, Role: orgRole, By: accounts.Actor{Kind: "cli"}})
		if err != nil {
			return cliError(err, map[string]string{"email": "email", "password": "password-stdin"})
		}
		created = true
		if !*pwStdin {
			defer fmt.Fprintf(stdout, "password: %s\n(shown once: give it to %s, who should change it)\n", password, u.Email)
		}
	case err != nil:
		return err
	case *pwStdin:
		return fmt.Errorf("--password-stdin: user %s exists; this command does not change passwords", u.Email)
	}

	orgRole, target, detail := r, *org, fmt.Sprintf("%s on organization %s", r, *org)
	if *dash != "" {
		orgRole, target, detail = "", *dash, fmt.Sprintf("%s on dashboard %s", r, *dash)
		if ms, err := s.Memberships(ctx, u.ID); err != nil {
			return err
		} else if i := indexOrg(ms, *org); i >= 0 {
			orgRole = ms[i].Role // a dashboard role does not take the organization's away
		}
	}
	if err := s.SetMembership(ctx, *org, u.ID, orgRole); err != nil {
		return err
	}
	if *dash != "" {
		if err := s.SetDashboardRole(ctx, *dash, u.ID, r); err != nil {
			return err
		}
	}
	if err := s.RecordAudit(ctx, audit.Entry{OrgID: *org, ActorKind: "cli", Action: "role_set", Target: target, Outcome: "ok", Detail: u.ID + ": " + detail}); err != nil {
		return err
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	fmt.Fprintf(stdout, "user %s %s (%s): %s\n", u.Email, verb, u.ID, detail)
	return nil
}

func indexOrg(ms []auth.Membership, org string) int {
	for i, m := range ms {
		if m.OrgID == org {
			return i
		}
	}
	return -1
}

func tokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs, getenv)
	name := fs.String("name", "", "what the token is for, e.g. ci-publisher (required)")
	org := fs.String("org", auth.DefaultOrg, "the organization the token acts in")
	scopes := fs.String("scopes", "", "comma-separated permissions, e.g. publish_data,view_charts (required)")
	charts := fs.String("charts", "", "comma-separated chart ids the token is limited to (default: every chart of the organization)")
	if err := parse(fs, args); err != nil {
		return err
	}
	nt := accounts.NewToken{OrgID: *org, Name: *name, Scopes: splitList(*scopes), Charts: splitList(*charts), By: accounts.Actor{Kind: "cli"}}
	if err := nt.Check(); err != nil {
		return usageError{cliError(err, map[string]string{"name": "name", "scopes": "scopes"})}
	}
	s, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	secret, t, err := accounts.New(s).CreateToken(ctx, nt)
	if err != nil {
		if apperr.CodeOf(err) == apperr.NotFound {
			return fmt.Errorf("--org: %s (create it with ashreports org add)", apperr.From(err).Message)
		}
		return err
	}
	fmt.Fprintf(stdout, "token %s (%s) created in %s\n%s\n(shown once: store it now; send it as Authorization: Bearer <token>)\n", t.ID, t.Name, t.OrgID, secret)
	return nil
}

func tokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs, getenv)
	org := fs.String("org", auth.DefaultOrg, "the organization whose tokens to list")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	ts, err := s.Tokens(ctx, *org)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		fmt.Fprintf(stdout, "organization %s has no API token\n", *org)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCHARTS\tCREATED\tLAST USED\tREVOKED")
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	for _, t := range ts {
		scopes := make([]string, len(t.Scopes))
		for i, p := range t.Scopes {
			scopes[i] = string(p)
		}
		charts := strings.Join(t.Charts, ",")
		if charts == "" {
			charts = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(scopes, ","), charts, day(t.CreatedAt), day(t.LastUsedAt), day(t.RevokedAt))
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs, getenv)
	org := fs.String("org", auth.DefaultOrg, "the token's organization")
	id := fs.String("id", "", "the token's id, as token list shows it (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--id: the token's id is required (ashreports token list)")}
	}
	s, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.RevokeToken(ctx, *org, *id); err != nil {
		if apperr.CodeOf(err) == apperr.NotFound {
			return fmt.Errorf("--id: organization %s has no token %q", *org, *id)
		}
		return err
	}
	if err := s.RecordAudit(ctx, audit.Entry{OrgID: *org, ActorKind: "cli", Action: "token_revoked", Target: *id, Outcome: "ok"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s revoked: requests with it are refused, and its live connections close within a second\n", *id)
	return nil
}

func orgAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("org add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs, getenv)
	id := fs.String("id", "", "the organization's id: lowercase letters, digits and dashes (required)")
	name := fs.String("name", "", "its display name (default: the id)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !validOrgID(*id) {
		return usageError{fmt.Errorf("--id: %q is not an id: use 1 to 63 lowercase letters, digits and dashes", *id)}
	}
	if *name == "" {
		*name = *id
	}
	s, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.CreateOrganization(ctx, auth.Organization{ID: *id, Name: *name}); err != nil {
		return cliError(err, nil)
	}
	if err := s.RecordAudit(ctx, audit.Entry{OrgID: *id, ActorKind: "cli", Action: "org_created", Target: *id, Outcome: "ok", Detail: *name}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "organization %s (%s) created\n", *id, *name)
	return nil
}

func validOrgID(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
