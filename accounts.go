package ashreports

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/live"
)

// Admin is the first administrator, created at start when the server has
// no user yet (Config.Admin; the command line takes it from
// ASHREPORTS_ADMIN_EMAIL and ASHREPORTS_ADMIN_PASSWORD).
type Admin struct {
	Email    string
	Password string
}

// demoAccount is a user of the demo.
type demoAccount struct {
	email string
	role  access.Role
}

// demoAccounts are the demo's users, one per role, in the demo's
// organization (which holds the demo dashboard; see Config.DemoOrg).
var demoAccounts = []demoAccount{
	{"admin@demo.example", access.Admin},
	{"editor@demo.example", access.Editor},
	{"viewer@demo.example", access.Viewer},
}

// demoCredentialsFile keeps the demo users' passwords in the data
// directory (mode 0600), so that every start can print them: they are
// demo accounts, made up at the first start, never fixed.
const demoCredentialsFile = "demo-credentials.txt"

// accounts prepares sign-in at start: the first admin from cfg.Admin, the
// demo users with the demo, and the notes to print (Server.Notes).
func (s *Server) accounts(ctx context.Context, cfg Config) error {
	if cfg.Admin != nil {
		n, err := s.store.UserCount(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			if !strings.Contains(cfg.Admin.Email, "@") {
				return fmt.Errorf("first admin: %q is not an email address", cfg.Admin.Email)
			}
			if err := s.addUser(ctx, cfg.Admin.Email, cfg.Admin.Password, access.Admin, "first_admin"); err != nil {
				return fmt.Errorf("first admin %s: %s", cfg.Admin.Email, apperr.From(err).Message)
			}
			s.notes = append(s.notes, fmt.Sprintf("created the first admin, %s", cfg.Admin.Email))
		}
	}
	if !cfg.NoDemo {
		if err := s.demoAccounts(ctx, cfg.DataDir, s.demoOrgID); err != nil {
			return fmt.Errorf("demo users: %w", err)
		}
	}
	n, err := s.store.UserCount(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		s.notes = append(s.notes,
			"no users yet: nobody can sign in. Create the first admin with",
			fmt.Sprintf("  ashreports user add --data-dir %s --email you@example.com --role admin", cfg.DataDir),
			"or start with ASHREPORTS_ADMIN_EMAIL and ASHREPORTS_ADMIN_PASSWORD set.")
	}
	return nil
}

// demoOrg finds or makes the demo's organization: the configured one,
// which must exist; else the one the demo dashboard is in already (a data
// directory from before the demo had its own organization keeps it in
// default, with its users); else "demo", named Demo, made at the first
// start. An organization "demo" that holds anything but the demo is not
// taken over.
func (s *Server) demoOrg(ctx context.Context, cfg Config, demoDash string) (string, error) {
	if cfg.DemoOrg != "" && cfg.DemoOrg != "demo" {
		_, err := s.store.Organization(ctx, cfg.DemoOrg)
		return cfg.DemoOrg, err
	}
	if cfg.DemoOrg == "" {
		org, err := s.store.DashboardOrg(ctx, demoDash)
		if err == nil {
			return org, nil
		}
		if apperr.CodeOf(err) != apperr.NotFound {
			return "", err
		}
	}
	err := s.store.CreateOrganization(ctx, auth.Organization{ID: "demo", Name: "Demo"})
	if apperr.CodeOf(err) != apperr.Conflict {
		return "demo", err
	}
	// It exists: the demo's own from an earlier start, or someone else's.
	members, err := s.store.Members(ctx, "demo")
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if !slices.ContainsFunc(demoAccounts, func(a demoAccount) bool { return a.email == m.Email }) {
			return "", fmt.Errorf("organization %q has members besides the demo's (%s): set demo_org to another organization, or turn the demo off", "demo", m.Email)
		}
	}
	ds, err := s.store.Dashboards(ctx)
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

func (s *Server) addUser(ctx context.Context, email, password string, role access.Role, why string) error {
	return s.addUserIn(ctx, auth.DefaultOrg, email, password, role, why)
}

func (s *Server) addUserIn(ctx context.Context, orgID, email, password string, role access.Role, why string) error {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	name, _, _ := strings.Cut(email, "@")
	u := auth.User{ID: auth.NewID("usr"), Email: email, Name: name, PasswordHash: hash}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return err
	}
	if err := s.store.SetMembership(ctx, orgID, u.ID, role); err != nil {
		return err
	}
	return s.store.RecordAudit(ctx, audit.Entry{OrgID: orgID, ActorKind: "server", Action: "user_created", Target: u.ID, Outcome: "ok", Detail: fmt.Sprintf("%s: %s, %s", why, email, role)})
}

// demoAccounts creates the demo users that do not exist yet, with made-up
// passwords kept in the credentials file, and notes every demo user whose
// password the file knows.
// joinDemo gives a demo user role in the demo's organization when they
// are a member of others but not of it: the demo moved. One who is a
// member nowhere was removed by an admin, and stays so.
func (s *Server) joinDemo(ctx context.Context, orgID, userID string, role access.Role) error {
	ms, err := s.store.Memberships(ctx, userID)
	if err != nil {
		return err
	}
	if len(ms) == 0 || slices.ContainsFunc(ms, func(m auth.Membership) bool { return m.OrgID == orgID }) {
		return nil
	}
	return s.store.SetMembership(ctx, orgID, userID, role)
}

func (s *Server) demoAccounts(ctx context.Context, dataDir, orgID string) error {
	path := filepath.Join(dataDir, demoCredentialsFile)
	known, err := readCredentials(path)
	if err != nil {
		return err
	}
	changed := false
	for _, a := range demoAccounts {
		u, err := s.store.UserByEmail(ctx, a.email)
		switch {
		case err == nil:
			// A demo that moved to another organization (demo_org
			// changed) takes its users along: each keeps the roles it
			// has and gets its demo role where the demo now is.
			if err := s.joinDemo(ctx, orgID, u.ID, a.role); err != nil {
				return err
			}
			continue
		case apperr.CodeOf(err) != apperr.NotFound:
			return err
		}
		pw := auth.NewPassword()
		if err := s.addUserIn(ctx, orgID, a.email, pw, a.role, "demo"); err != nil {
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
	s.notes = append(s.notes, "demo sign-in (passwords in "+path+"):")
	for _, a := range demoAccounts {
		if pw, ok := known[a.email]; ok {
			s.notes = append(s.notes, fmt.Sprintf("  %-8s %s  %s", a.role, a.email, pw))
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

// Notes are lines for the person who started the server: how to sign in
// (the demo users), or how to create the first admin.
func (s *Server) Notes() []string { return s.notes }

// authorizeChart is the hub's Authorizer: access.Decide on the chart's
// place, with denials audited.
func (s *Server) authorizeChart(ctx context.Context, who access.Subject, p access.Permission, chartID string) error {
	res, err := s.ident.ChartResource(ctx, chartID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return fmt.Errorf("%w: %w", live.ErrNoChart, err)
	}
	if err != nil {
		return err
	}
	return s.decide(ctx, who, p, res, chartID)
}

// decide is access.Decide on res, with denials audited against target.
func (s *Server) decide(ctx context.Context, who access.Subject, p access.Permission, res access.Resource, target string) error {
	d := access.Decide(who, p, res)
	if s.denials.Audited(who, p, target, d) {
		if err := s.store.RecordAudit(ctx, audit.Denial(who, p, target, d.Reason)); err != nil {
			s.log.Error("audit", "err", err)
		}
	}
	return d.Err()
}

// recheckEvery is how often the server looks for changes of access made
// by any process (the command line, another node): revoking a role or a
// session stops its updates within about this time.
const recheckEvery = 500 * time.Millisecond

// recheckAnyway is how often the live connections are rechecked even
// when access did not change: a session's sockets close when it expires.
const recheckAnyway = time.Minute

// sweepEvery is how often ended sessions (expired or revoked) are
// deleted from the store.
const sweepEvery = 10 * time.Minute

// watchAccess rechecks the live connections whenever the access version
// moves, and every recheckAnyway, and deletes ended sessions at its first
// tick and every sweepEvery, until ctx ends.
func (s *Server) watchAccess(ctx context.Context) {
	last, err := s.store.AccessVersion(ctx)
	if err != nil {
		s.log.Error("access version", "err", err)
	}
	t := time.NewTicker(recheckEvery)
	defer t.Stop()
	var lastSweep time.Time
	lastCheck := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			if _, err := s.store.DeleteExpiredSessions(ctx, lastSweep); err != nil && ctx.Err() == nil {
				s.log.Error("delete ended sessions", "err", err)
			}
		}
		v, err := s.store.AccessVersion(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("access version", "err", err)
			}
			continue
		}
		if v == last && time.Since(lastCheck) < recheckAnyway {
			continue
		}
		if v != last {
			s.ident.clear()
		}
		last, lastCheck = v, time.Now()
		// One lookup per session or token per pass, however many
		// sockets share it (the bench's 10,000 viewers share one token).
		type result struct {
			sub access.Subject
			err error
		}
		memo := map[string]result{}
		s.hub.Recheck(ctx, func(id live.Identity) (access.Subject, error) {
			key := "s:" + id.Session
			if id.Session == "" {
				key = fmt.Sprintf("t:%d:%s", id.Subject.Kind, id.Subject.ID)
			}
			if r, ok := memo[key]; ok {
				return r.sub, r.err
			}
			sub, err := s.refreshIdentity(ctx, id)
			memo[key] = result{sub, err}
			return sub, err
		})
	}
}

// refreshIdentity is a live connection's subject as the store has it now:
// an error when its session or token ended. An open socket is use of its
// session: the idle timeout does not close it, and it keeps the session
// from going idle (its last use is moved on); the session's lifetime
// still ends it.
func (s *Server) refreshIdentity(ctx context.Context, id live.Identity) (access.Subject, error) {
	switch {
	case id.Session != "":
		ss, err := s.store.Session(ctx, id.Session)
		if err != nil {
			return access.Subject{}, err
		}
		now := time.Now()
		ss.LastSeenAt = now
		if err := auth.CheckSession(ss, auth.SessionPolicy{}, now); err != nil {
			return access.Subject{}, err
		}
		if err := s.ident.TouchSession(ctx, id.Session, now); err != nil {
			return access.Subject{}, err
		}
		return s.store.Subject(ctx, ss.OrgID, ss.UserID)
	case id.Subject.Kind == access.Token:
		t, err := s.store.TokenByID(ctx, id.Subject.ID)
		if err != nil {
			return access.Subject{}, err
		}
		if !t.RevokedAt.IsZero() {
			return access.Subject{}, apperr.Errorf(apperr.Unauthorized, "the API token %s was revoked", t.ID)
		}
		return access.Subject{Kind: access.Token, ID: t.ID, OrgID: t.OrgID, Scopes: t.Scopes, Charts: t.Charts}, nil
	}
	return id.Subject, nil
}
