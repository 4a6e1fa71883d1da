package ashreports

import (
	"context"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/store"
)

// TestSavesOfOneDashboardDoNotWaitForAnother: a dashboard's edit lock
// holds only that dashboard's saves. One whose new query re-runs for
// seconds under it leaves the other dashboards' editors, maybe of other
// organizations, free to save.
func TestSavesOfOneDashboardDoNotWaitForAnother(t *testing.T) {
	ctx := context.Background()
	srv, err := New(ctx, Config{DataDir: t.TempDir(), DashboardsDir: "examples/dashboards", NoDemoGenerator: true, DemoOrg: store.DefaultOrg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ed := &chartEditor{server: srv, store: srv.store, engine: srv.engine, rooms: srv.rooms, log: srv.log}
	by := access.Subject{Kind: access.User, ID: "u", OrgID: store.DefaultOrg}

	unlock := ed.lock("sales-analytics") // a long save of the demo dashboard
	def, v, err := ed.ChartDefinition(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	def.Config.Title = "Orders per minute"
	saved := make(chan error, 1)
	go func() {
		_, err := ed.SaveChart(ctx, by, def, v, "title")
		saved <- err
	}()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatalf("save on the ops dashboard: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a timing check
		t.Fatal("a save on the ops dashboard waited for the demo dashboard's lock")
	}
	unlock()
}
