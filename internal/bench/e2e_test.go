package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/ashreportstest"
	"github.com/ashreports/ashreports/internal/accounts"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/leaktest"
	"github.com/ashreports/ashreports/internal/store/storetest"
)

func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}

// startServer runs a real server in this process (the command starts a
// child process instead; a test binary is not ashreports) with the bench
// charts.
func startServer(t *testing.T, charts int) (url, token string) {
	t.Helper()
	dir := t.TempDir()
	dash := filepath.Join(dir, "dashboards")
	if err := WriteDashboards(dash, charts, 100); err != nil {
		t.Fatal(err)
	}
	// The command gets its token with ashreports token create (see
	// grantToken); this test makes it with the same accounts service.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	secret, _, err := accounts.New(storetest.Open(t, filepath.Join(dir, "data"))).CreateToken(context.Background(),
		accounts.NewToken{OrgID: auth.DefaultOrg, Name: "bench", Scopes: []string{"view_charts", "publish_data"}, By: accounts.Actor{Kind: "cli"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := ashreportstest.NewServer(t, ashreports.Config{DataDir: filepath.Join(dir, "data"), DashboardsDir: dash, NoDemo: true})
	return srv.URL, secret
}

// The whole bench at a small scale against a real server: every viewer,
// including those that drop their connection and resume, must end with
// the server's state, having received every op.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	url, token := startServer(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		URL: url, Token: token, Viewers: 50, Charts: 5, Rate: 200, Duration: 2 * time.Second,
		ReconnectFrac: 0.2, ReconnectPause: 200 * time.Millisecond, Seed: 1,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if testing.Verbose() {
		_ = rep.WriteText(t.Output())
	}
	if rep.Connect.Connected != 50 {
		t.Errorf("%d viewers subscribed, want 50 (%s)", rep.Connect.Connected, rep.Connect.FirstFailure)
	}
	if !rep.Converged {
		t.Errorf("not converged: %d viewers differ from the server; errors %+v", rep.NotConverged, rep.Errors)
	}
	if rep.Publish.OK == 0 || rep.Publish.Errors != 0 {
		t.Errorf("published %d ops, %d errors (%v)", rep.Publish.OK, rep.Publish.Errors, rep.Publish.ErrorKinds)
	}
	rc := rep.Reconnect
	if rc == nil || rc.Viewers != 10 {
		t.Fatalf("reconnect report %+v, want 10 viewers", rc)
	}
	if rc.Drops+rc.DropsMissed != 10 || rc.Recoveries != uint64(rc.Drops) {
		t.Errorf("reconnect: %d drops (%d missed), %d recoveries; want every drop recovered", rc.Drops, rc.DropsMissed, rc.Recoveries)
	}
	if rc.ResumeRefused {
		// A server without resume: reconnected viewers get snapshots and
		// skip ops, so delivery cannot be complete.
		t.Logf("the server refused resuming; delivered ratio %v not checked", rep.DeliveredRatio)
	} else if rep.DeliveredRatio != 1 || rep.Delivered != rep.Expected || rep.Expected == 0 {
		t.Errorf("delivered %d of %d (ratio %v), want all", rep.Delivered, rep.Expected, rep.DeliveredRatio)
	}
	if n := rep.Errors.total(); n != 0 {
		t.Errorf("%d protocol errors: %+v", n, rep.Errors)
	}
	if rep.LatencyMS.Count == 0 {
		t.Error("no latency recorded")
	}
	if !rep.Pass && !rc.ResumeRefused {
		t.Errorf("failures: %v", rep.Failures)
	}
	// Without a server process the report says so, and the JSON field is
	// null rather than a made-up number.
	if rep.ServerRSSBytesPerConn != nil || rep.Server.CPUCores != nil {
		t.Error("server memory or CPU reported without a server pid")
	}
}
