package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/accounts"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/demo"
)

// Store is what provisioning reads and writes of the metadata store.
type Store interface {
	ProvisionDashboards(ctx context.Context, origin, orgID string, ds []dashboard.Dashboard) error
	Dashboards(ctx context.Context) ([]dashboard.Summary, error)
	DashboardOrg(ctx context.Context, id string) (string, error)
	Organization(ctx context.Context, id string) (auth.Organization, error)
	CreateOrganization(ctx context.Context, o auth.Organization) error
	Members(ctx context.Context, orgID string) ([]auth.Member, error)
	UserCount(ctx context.Context) (int, error)
	UserByEmail(ctx context.Context, email string) (auth.User, error)
	Memberships(ctx context.Context, userID string) ([]auth.Membership, error)
	SetMembership(ctx context.Context, orgID, userID string, role access.Role) error
}

// Accounts creates users (package accounts).
type Accounts interface {
	CreateUser(ctx context.Context, nu accounts.NewUser) (auth.User, error)
}

// Admin is the first administrator, created when the server has no user
// yet.
type Admin struct {
	Email    string
	Password string
}

// Config says what to provision.
type Config struct {
	Store    Store
	Accounts Accounts
	// DataDir holds the demo database and the demo users' credentials.
	DataDir string
	// DashboardsDir, when set, is a directory of dashboard YAML files,
	// which become the dashboards of the default organization from files.
	DashboardsDir string
	// Demo makes the demo: its database, dashboard, organization (DemoOrg;
	// see Demo) and users.
	Demo    bool
	DemoOrg string
	// Admin, when set, is created as the first admin if there is no user.
	Admin  *Admin
	Logger *slog.Logger
}

// Result is what provisioning made.
type Result struct {
	// DemoDB is the demo's sales database, when the demo runs.
	DemoDB string
	// DemoOrg is the demo's organization, when the demo runs.
	DemoOrg string
	// Notes are lines for the person who started the server: how to sign
	// in (the demo users), or how to create the first admin.
	Notes []string
	// conflicts are the charts left out (see put).
	conflicts []dashboard.ChartIDTaken
}

// Conflicts returns the charts of dashboard files, or of the demo, that
// this start left out of organization orgID, for its admins: another
// dashboard has a chart with the id (one an editor added, say). The rest
// was provisioned; each is tried again at the next start.
func (res Result) Conflicts(orgID string) []dashboard.ChartIDTaken {
	var out []dashboard.ChartIDTaken
	for _, c := range res.conflicts {
		if c.OrgID == orgID {
			out = append(out, c)
		}
	}
	return out
}

// put provisions ds from origin into organization orgID, leaving out each
// chart whose id another dashboard's chart has, which it logs and keeps
// in res: such a conflict never stops the start. The dashboard is then
// stored without the chart, so that it differs from its file and the
// next start tries the chart again.
func (res *Result) put(ctx context.Context, cfg Config, origin, orgID string, ds []dashboard.Dashboard) error {
	for {
		err := cfg.Store.ProvisionDashboards(ctx, origin, orgID, ds)
		var taken *dashboard.ChartIDTaken
		if !errors.As(err, &taken) {
			return err
		}
		if !leaveOut(ds, taken.Dashboard, taken.Chart) {
			return err // not one of ds: nothing to leave out
		}
		res.conflicts = append(res.conflicts, *taken)
		cfg.Logger.Warn("provisioning conflict: chart left out", "origin", origin, "org", orgID, "dashboard", taken.Dashboard,
			"chart", taken.Chart, "used_by", taken.UsedBy, "used_by_org", taken.UsedByOrg)
	}
}

// leaveOut removes chart chartID from dashboard dashID of ds, reporting
// whether it was there. Each removal takes a chart out, so put's loop
// ends.
func leaveOut(ds []dashboard.Dashboard, dashID, chartID string) bool {
	for i := range ds {
		if ds[i].ID != dashID {
			continue
		}
		n := len(ds[i].Charts)
		ds[i].Charts = slices.DeleteFunc(slices.Clone(ds[i].Charts), func(c dashboard.Chart) bool { return c.ID == chartID })
		return len(ds[i].Charts) < n
	}
	return false
}

// Run provisions what cfg says, in order: the demo's database, dashboard
// and organization, the dashboards directory, the first admin, the demo's
// users.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var res Result
	if cfg.Demo {
		if err := res.demo(ctx, cfg); err != nil {
			return res, err
		}
	}
	if cfg.DashboardsDir != "" {
		if err := res.dashboards(ctx, cfg); err != nil {
			return res, err
		}
	}
	if cfg.Admin != nil {
		if err := res.firstAdmin(ctx, cfg); err != nil {
			return res, err
		}
	}
	if cfg.Demo {
		if err := res.demoAccounts(ctx, cfg); err != nil {
			return res, fmt.Errorf("demo users: %w", err)
		}
	}
	n, err := cfg.Store.UserCount(ctx)
	if err != nil {
		return res, err
	}
	if n == 0 {
		res.Notes = append(res.Notes,
			"no users yet: nobody can sign in. Create the first admin with",
			fmt.Sprintf("  ashreports user add --data-dir %s --email you@example.com --role admin", cfg.DataDir),
			"or start with ASHREPORTS_ADMIN_EMAIL and ASHREPORTS_ADMIN_PASSWORD set.")
	}
	return res, nil
}

// dashboards makes the file-provisioned dashboards those of the directory:
// new and changed ones are stored, those whose file is gone are deleted.
func (res *Result) dashboards(ctx context.Context, cfg Config) error {
	dir := cfg.DashboardsDir
	ds, err := dashboard.LoadDir(os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("dashboards dir %s: %w", dir, err)
	}
	if err := res.put(ctx, cfg, "file", auth.DefaultOrg, ds); err != nil {
		return fmt.Errorf("dashboards dir %s: %w", dir, err)
	}
	for _, d := range ds {
		cfg.Logger.Info("provisioned dashboard", "id", d.ID, "charts", len(d.Charts))
	}
	return nil
}

// firstAdmin creates the first admin when the server has no user.
func (res *Result) firstAdmin(ctx context.Context, cfg Config) error {
	n, err := cfg.Store.UserCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	a := cfg.Admin
	if _, err := cfg.Accounts.CreateUser(ctx, accounts.NewUser{Email: a.Email, Password: a.Password, OrgID: auth.DefaultOrg, Role: access.Admin,
		By: accounts.Actor{Kind: "server"}, Why: "first admin"}); err != nil {
		return fmt.Errorf("first admin %s: %s", a.Email, apperr.From(err).Message)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("created the first admin, %s", a.Email))
	return nil
}

// demo makes the demo's sales database and its organization, and
// provisions the demo dashboard there.
func (res *Result) demo(ctx context.Context, cfg Config) error {
	res.DemoDB = filepath.Join(cfg.DataDir, "demo-sales.db")
	if err := demo.CreateDB(ctx, res.DemoDB); err != nil {
		return err
	}
	d, err := demo.Dashboard()
	if err != nil {
		return fmt.Errorf("demo dashboard: %w", err)
	}
	if res.DemoOrg, err = demoOrg(ctx, cfg, d.ID); err != nil {
		return fmt.Errorf("demo organization: %w", err)
	}
	if err := res.put(ctx, cfg, "demo", res.DemoOrg, []dashboard.Dashboard{d}); err != nil {
		return fmt.Errorf("demo dashboard: %w", err)
	}
	return nil
}

// demoAccount is a user of the demo.
type demoAccount struct {
	email string
	role  access.Role
}

// demoAccounts are the demo's users, one per role, in the demo's
// organization (which holds the demo dashboard; see demoOrg).
var demoAccounts = []demoAccount{
	{"admin@demo.example", access.Admin},
	{"editor@demo.example", access.Editor},
	{"viewer@demo.example", access.Viewer},
}

// CredentialsFile keeps the demo users' passwords in the data directory
// (mode 0600), so that every start can print them: they are demo
// accounts, made up at the first start, never fixed.
const CredentialsFile = "demo-credentials.txt"

// demoOrg finds or makes the demo's organization: the configured one,
// which must exist; else the one the demo dashboard is in already (a data
// directory from before the demo had its own organization keeps it in
// default, with its users); else "demo", named Demo, made at the first
// start. An organization "demo" that holds anything but the demo is not
// taken over.
func demoOrg(ctx context.Context, cfg Config, demoDash string) (string, error) {
	st := cfg.Store
	if cfg.DemoOrg != "" && cfg.DemoOrg != "demo" {
		_, err := st.Organization(ctx, cfg.DemoOrg)
		return cfg.DemoOrg, err
	}
	if cfg.DemoOrg == "" {
		org, err := st.DashboardOrg(ctx, demoDash)
		if err == nil {
			return org, nil
		}
		if apperr.CodeOf(err) != apperr.NotFound {
			return "", err
		}
	}
	err := st.CreateOrganization(ctx, auth.Organization{ID: "demo", Name: "Demo"})
	if apperr.CodeOf(err) != apperr.Conflict {
		return "demo", err
	}
	// It exists: the demo's own from an earlier start, or someone else's.
	members, err := st.Members(ctx, "demo")
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if !slices.ContainsFunc(demoAccounts, func(a demoAccount) bool { return a.email == m.Email }) {
			return "", fmt.Errorf("organization %q has members besides the demo's (%s): set demo_org to another organization, or turn the demo off", "demo", m.Email)
		}
	}
	ds, err := st.Dashboards(ctx)
	if err != nil {
		return "", err
	}
	for _, d := range ds {
		if d.OrgID == "demo" && d.ID != demoDash {
			return "", fmt.Errorf("organization %q has dashboards besides the demo's (%s): set demo_org to another organization, or turn the demo off", "demo", d.ID)
		}
	}
	return "demo", nil
}

// joinDemo gives a demo user role in the demo's organization when they
// are a member of others but not of it: the demo moved. One who is a
// member nowhere was removed by an admin, and stays so.
func joinDemo(ctx context.Context, st Store, orgID, userID string, role access.Role) error {
	ms, err := st.Memberships(ctx, userID)
	if err != nil {
		return err
	}
	if len(ms) == 0 || slices.ContainsFunc(ms, func(m auth.Membership) bool { return m.OrgID == orgID }) {
		return nil
	}
	return st.SetMembership(ctx, orgID, userID, role)
}

// demoAccounts creates the demo users that do not exist yet, with made-up
// passwords kept in the credentials file, and notes every demo user whose
// password the file knows.
func (res *Result) demoAccounts(ctx context.Context, cfg Config) error {
	path := filepath.Join(cfg.DataDir, CredentialsFile)
	known, err := readCredentials(path)
	if err != nil {
		return err
	}
	changed := false
	for _, a := range demoAccounts {
		u, err := cfg.Store.UserByEmail(ctx, a.email)
		switch {
		case err == nil:
			// A demo that moved to another organization (demo_org
			// changed) takes its users along: each keeps the roles it
			// has and gets its demo role where the demo now is.
			if err := joinDemo(ctx, cfg.Store, res.DemoOrg, u.ID, a.role); err != nil {
				return err
			}
			continue
		case apperr.CodeOf(err) != apperr.NotFound:
			return err
		}
		pw := auth.NewPassword()
		if _, err := cfg.Accounts.CreateUser(ctx, accounts.NewUser{Email: a.email, Password: pw, OrgID: res.DemoOrg, Role: a.role,
			By: accounts.Actor{Kind: "server"}, Why: "demo"}); err != nil {
			return err
		}
		known[a.email], changed = pw, true
	}
	if changed {
		var b strings.Builder
		b.WriteString("# Demo users of this data directory (made up at first start).\n")
		for _, a := range demoAccounts {
			if pw, ok := known[a.email]; ok {
				fmt.Fprintf(&b, "%s %s\n", a.email, pw)
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	res.Notes = append(res.Notes, "demo sign-in (passwords in "+path+"):")
	for _, a := range demoAccounts {
		if pw, ok := known[a.email]; ok {
			res.Notes = append(res.Notes, fmt.Sprintf("  %-8s %s  %s", a.role, a.email, pw))
		}
	}
	return nil
}

func readCredentials(path string) (map[string]string, error) {
	out := map[string]string{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if email, pw, ok := strings.Cut(line, " "); ok {
			out[email] = pw
		}
	}
	return out, sc.Err()
}
