package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/store"
)

// New opens a fresh store in a temporary directory of tb's.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	return open(tb, filepath.Join(tb.TempDir(), "meta.db"))
}

// Open opens the store of the data directory dataDir, beside a server
// that may be using it.
func Open(tb testing.TB, dataDir string) *store.Store {
	tb.Helper()
	return open(tb, store.Path(dataDir))
}

func open(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		tb.Fatalf("open store %s: %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustUser creates a user (who cannot sign in: their password hash is no
// hash) with role on organization org.
func MustUser(tb testing.TB, s *store.Store, id, email, org string, role access.Role) auth.User {
	tb.Helper()
	ctx := context.Background()
	u := auth.User{ID: id, Email: email, Name: id, PasswordHash: "none"}
	if err := s.CreateUser(ctx, u); err != nil {
		tb.Fatal(err)
	}
	if err := s.SetMembership(ctx, org, id, role); err != nil {
		tb.Fatal(err)
	}
	return u
}
