package ashreports

import (
	"context"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
)

// TestSavesOfOneDashboardDoNotWaitForAnother: a dashboard's edit lock
// holds that dashboard's saves, and only those. One whose new query
// re-runs for seconds under it leaves the other dashboards' editors,
// maybe of other organizations, free to save.
func TestSavesOfOneDashboardDoNotWaitForAnother(t *testing.T) {
	ctx := context.Background()
	srv, err := New(ctx, Config{DataDir: t.TempDir(), DashboardsDir: "examples/dashboards", NoDemoGenerator: true, DemoOrg: auth.DefaultOrg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ed := srv.editor // the server's own, whose locks its saves take
	by := access.Subject{Kind: access.User, ID: "u", OrgID: auth.DefaultOrg}
	save := func(chartID, title string) <-chan error {
		def, v, err := ed.ChartDefinition(ctx, chartID)
		if err != nil {
			t.Fatal(err)
		}
		def.Config.Title = title
		done := make(chan error, 1)
		go func() {
			_, err := ed.SaveChart(ctx, by, def, v, "title")
			done <- err
		}()
		return done
	}

	// A long save of the demo dashboard holds its lock.
	unlock := ed.lock("sales-analytics")
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	select {
	case err := <-save("orders", "Orders per minute"):
		if err != nil {
			t.Fatalf("a save on the ops dashboard: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a timing check
		t.Fatal("a save on the ops dashboard waited for the demo dashboard's lock")
	}

	// A save of the demo dashboard waits for it, and then goes through.
	demo := save("sales-by-region", "Sales by area")
	select {
	case err := <-demo:
		t.Fatalf("a save on the demo dashboard went past its held lock (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	locked = false
	unlock()
	if err := <-demo; err != nil {
		t.Fatalf("the demo dashboard's save after its lock: %v", err)
	}
	if got, _, _ := ed.ChartDefinition(ctx, "sales-by-region"); got.Config.Title != "Sales by area" {
		t.Errorf("stored title %q", got.Config.Title)
	}
}
