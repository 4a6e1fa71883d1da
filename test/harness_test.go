package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/ashreportstest"
	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/leaktest"
	"github.com/ashreports/ashreports/internal/store"
	"github.com/ashreports/ashreports/internal/store/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(serveChild())
	}
	leaktest.VerifyTestMain(m)
}

// fixtures holds the tests' dashboards of charts without a query
// ("orders", "errors"), which they push to.
const fixtures = "testdata/dashboards"

// testServer is a real server (package ashreportstest) with what the
// tests do to it: read its store, sign in, dial.
type testServer struct {
	*ashreportstest.Server // nil until start
	DataDir                string
	cfg                    ashreports.Config
	store                  *store.Store // see db
}

// prepare makes a server's data directory (cfg's, else a new one) with
// the test token in it, ready to start.
func prepare(t testing.TB, cfg ashreports.Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	grantTestToken(t, cfg.DataDir)
	return &testServer{DataDir: cfg.DataDir, cfg: cfg}
}

// start starts the prepared server on a random loopback port; it stops
// when the test ends.
func (s *testServer) start(t testing.TB) *testServer {
	t.Helper()
	s.Server = ashreportstest.NewServer(t, s.cfg)
	return s
}

// startServer starts a server with the demo (generator off) and the
// fixture dashboard, both in the default organization, where addUser puts
// users.
func startServer(t *testing.T) *testServer {
	t.Helper()
	return prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemoGenerator: true, DemoOrg: auth.DefaultOrg}).start(t)
}

// db returns the server's store, opened beside it on first use, for a
// test to read or change what the server keeps; it is closed when the
// test ends.
func (s *testServer) db(t *testing.T) *store.Store {
	t.Helper()
	if s.store == nil {
		s.store = storetest.Open(t, s.DataDir)
	}
	return s.store
}

// auditLog returns the organization's audit log, newest first.
func (s *testServer) auditLog(t *testing.T, org string) []audit.Entry {
	t.Helper()
	log, err := s.db(t).AuditLog(context.Background(), org, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

type frame struct {
	Type   string          `json:"type"`
	Ref    string          `json:"ref"`
	OK     bool            `json:"ok"`
	Stream string          `json:"stream"`
	Chart  string          `json:"chart"`
	Epoch  string          `json:"epoch"`
	Offset uint64          `json:"offset"`
	Op     json.RawMessage `json:"op"`
	State  *chart.State    `json:"state"`
	// Resumed is a subscribe reply's: the ops after the offset follow.
	Resumed bool `json:"resumed"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
	V int `json:"v"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
	// lines holds the frames of the last message not yet read: a message
	// carries one or more frames, a line each.
	lines [][]byte
	// held holds the frames request passed over on its way to a reply;
	// they are read first.
	held [][]byte
}

func dial(t *testing.T, base string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/live", &websocket.DialOptions{HTTPHeader: bearer()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	if f := c.read(); f.Type != "hello" || f.V != 1 {
		t.Fatalf("first frame = %+v, want hello v1", f)
	}
	return c
}

func (c *client) send(msg string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, failing the test after 15 s.
func (c *client) read() frame {
	c.t.Helper()
	line := c.readLine()
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		c.t.Fatalf("decode frame %s: %v", line, err)
	}
	return f
}

// readLine returns the next frame as sent, failing the test after 15 s.
func (c *client) readLine() []byte {
	c.t.Helper()
	if len(c.held) > 0 {
		line := c.held[0]
		c.held = c.held[1:]
		return line
	}
	for len(c.lines) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, b, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		c.lines = bytes.Split(b, []byte("\n"))
	}
	line := c.lines[0]
	c.lines = c.lines[1:]
	return line
}

// subscribe subscribes and returns the snapshot.
func (c *client) subscribe(ref, chartID string, filters map[string]string) frame {
	c.t.Helper()
	msg, _ := json.Marshal(map[string]any{"ref": ref, "type": "subscribe", "chart": chartID, "filters": filters})
	c.send(string(msg))
	snap := c.read()
	if snap.Type != "snapshot" {
		c.t.Fatalf("subscribe %s: got %+v, want snapshot", chartID, snap)
	}
	if r := c.read(); r.Type != "reply" || r.Ref != ref || !r.OK {
		c.t.Fatalf("subscribe %s: reply %+v", chartID, r)
	}
	return snap
}

func post(t *testing.T, url, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = bearer()
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: %d, body %q is not JSON", url, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func getState(t *testing.T, base, id string) (uint64, chart.State) {
	t.Helper()
	resp, err := authGet(base + "/api/v1/charts/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Offset uint64      `json:"offset"`
		State  chart.State `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Offset, out.State
}

// testToken is the secret of an API token with every permission in the
// default organization, which each test server's data directory gets
// (grantTestToken) and the test helpers send.
const testToken = "ashr_integration-tests-token-with-every-permission"

// grantTestToken stores testToken in the data directory dir (token
// create makes secrets of its own; this one the tests know).
func grantTestToken(t testing.TB, dir string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, store.Path(dir)) // closed at once, not at the test's end
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tok := auth.Token{ID: "tok_tests", OrgID: auth.DefaultOrg, Name: "tests", SecretHash: auth.HashToken(testToken), Scopes: access.Permissions}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
}

// bearer returns request headers carrying testToken.
func bearer() http.Header {
	return http.Header{"Authorization": {"Bearer " + testToken}}
}

// authGet gets url with testToken.
func authGet(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = bearer()
	return http.DefaultClient.Do(req)
}

// addUser creates a user with password pw and org role in the server's
// metadata database, as `ashreports user add` does.
func addUser(t *testing.T, s *testServer, email, pw string, role access.Role) auth.User {
	t.Helper()
	ctx := context.Background()
	db := s.db(t)
	hash, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	u := auth.User{ID: auth.NewID("usr"), Email: email, Name: strings.Split(email, "@")[0], PasswordHash: hash}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.SetMembership(ctx, auth.DefaultOrg, u.ID, role); err != nil {
		t.Fatal(err)
	}
	return u
}

// cookieClient is an HTTP client with cookies that does not follow redirects.
func cookieClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// page gets url and returns its status, body and the CSRF token of its
// first form.
func page(t *testing.T, c *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	token := ""
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		token = m[1]
	}
	return resp.StatusCode, string(b), token
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signIn signs in through the form and returns the session cookie.
func signIn(t *testing.T, s *testServer, c *http.Client, email, pw string) *http.Cookie {
	t.Helper()
	_, _, token := page(t, c, s.URL+"/login")
	resp := postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {token}, "email": {email}, "password": {pw}, "next": {"/"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "ashreports_session" {
			return ck
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil
}

// do sends req with c and returns the status, the body read and closed.
func do(t *testing.T, c *http.Client, req *http.Request) int {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// signedInSocket signs email in with a new cookie client and opens a
// socket with its session.
func signedInSocket(t *testing.T, s *testServer, email, pw string) (*http.Client, *client) {
	t.Helper()
	c := cookieClient(t)
	signIn(t, s, c, email, pw)
	ws, _, err := dialAs(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	return c, ws
}

// dialAs opens /live with the cookies of c (a signed-in browser).
func dialAs(t *testing.T, s *testServer, c *http.Client) (*client, *http.Response, error) {
	t.Helper()
	u, _ := url.Parse(s.URL)
	h := http.Header{}
	for _, ck := range c.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/live", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	cl := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	if f := cl.read(); f.Type != "hello" {
		t.Fatalf("first frame %+v", f)
	}
	return cl, resp, nil
}

// request sends a client message and returns its reply. Frames that
// come before the reply are kept for the next reads.
func (c *client) request(ref string, msg map[string]any) frame {
	c.t.Helper()
	msg["ref"] = ref
	b, _ := json.Marshal(msg)
	c.send(string(b))
	return c.reply(ref)
}

// reply waits for the reply to ref; frames that come before it are kept
// for the next reads.
func (c *client) reply(ref string) frame {
	c.t.Helper()
	var passed [][]byte
	for {
		line := c.readLine()
		var f frame
		if err := json.Unmarshal(line, &f); err != nil {
			c.t.Fatalf("decode frame %s: %v", line, err)
		}
		if f.Type == "reply" && f.Ref == ref {
			c.held = append(passed, c.held...)
			return f
		}
		passed = append(passed, line)
	}
}

// closedWith waits for the server to close the socket and returns the
// close status and reason.
func closedWith(t *testing.T, c *client) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.ws.Read(ctx); err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			t.Fatalf("socket ended without a close frame: %v", err)
		}
	}
}

// actor is one row of the access table: a signed-in browser (or none).
type actor struct {
	name string
	c    *http.Client
	csrf string
}

// signedIn signs a browser in and takes its CSRF token from the sign-out
// form of the home page.
func signedIn(t *testing.T, s *testServer, name, email, pw string) actor {
	t.Helper()
	c := cookieClient(t)
	signIn(t, s, c, email, pw)
	_, _, csrf := page(t, c, s.URL+"/")
	if csrf == "" {
		t.Fatalf("%s: no CSRF token on the home page", name)
	}
	return actor{name: name, c: c, csrf: csrf}
}

// send makes an API request as a (JSON body, the actor's CSRF token) and
// returns the status and the body.
func (a actor) send(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// browser starts headless Chromium for the test. Without Chromium the test
// is skipped, except in CI (CI=true), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// signInBrowser signs in through the sign-in form, as a person would.
func signInBrowser(t *testing.T, ctx context.Context, s *testServer, email, pw string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys("#login-email", email),
		chromedp.SendKeys("#login-password", pw),
		chromedp.Click(`.login-form button[type="submit"]`),
		chromedp.WaitVisible(".account .user"),
	); err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
}

// waitJS polls a JavaScript expression until it is true, failing the test
// after the timeout with the message.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, expr, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s (%s)", timeout, msg, expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ASHREPORTS_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to %s", p)
}

// setField sets the value of a form field as a person's input would,
// select elements included.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q; el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); return el.value === %q; })()`, sel, value, value)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](js)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("%s did not take the value %q", sel, value)
		}
		return err
	})
}

// openEditor clicks a button that opens the chart editor, and waits a
// bounded time for the dialog.
func openEditor(t *testing.T, ctx context.Context, button string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(button)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `document.querySelector('#chart-editor').open`, "the chart editor did not open after a click on "+button)
}

// evalJS runs a statement in the page, as a step of chromedp.Do.
func evalJS(stmt string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("("+stmt+", true)")(ctx, t)
		return err
	})
}

// procMemory returns a memory figure of the process pid ("self": the
// tests', where test servers run) in bytes, from /proc/PID/status: VmRSS,
// resident now, or VmHWM, the peak. Without /proc (not Linux) the test is
// skipped.
func procMemory(t *testing.T, pid, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Skipf("no /proc/%s/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%s/status", field, pid)
	return 0
}

// resetPeakMemory sets the tests' process's peak (VmHWM) to what is
// resident now.
func resetPeakMemory(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak resident size (/proc/self/clear_refs): %v", err)
	}
}
