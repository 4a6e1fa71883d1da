package test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/wait"
)

var demoCharts = []string{"monthly-sales-trend", "sales-by-region", "product-performance", "live-order-rate"}

func TestBrowserDashboardDrawsAndUpdatesLive(t *testing.T) {
	s := startServer(t)
	const pw = "the browser's password"
	addUser(t, s, "viewer@example.com", pw, access.Viewer)
	ctx := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	signInBrowser(t, ctx, s, "viewer@example.com", pw)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/")); err != nil {
		t.Fatal(err)
	}
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(`.dashboard-list a[href$="/sales-analytics"]`, "href"))
	if err != nil || !link.Exists {
		t.Fatalf("dashboard list has no link: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+link.Value)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `!!window.ashreports && window.ashreports.connState() === "live"`, "the page did not connect")
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-chart-id]").length`))
	if err != nil {
		t.Fatal(err)
	}
	if cards != len(demoCharts) {
		t.Fatalf("page has %d chart cards, want %d", cards, len(demoCharts))
	}
	for _, id := range demoCharts {
		// Drawn: the chart holds the server's rows and its SVG has drawn
		// shapes beyond the axes (series paths, bars or slices).
		waitJS(t, ctx, 15*time.Second, fmt.Sprintf(`(() => {
			const st = window.ashreports.state(%[1]q);
			const svg = document.querySelector('[data-chart-id=%[1]q] .chart-canvas svg');
			return !!st && st.data.rows.length > 0 && !!svg && svg.querySelectorAll("path").length > 5;
		})()`, id), "chart "+id+" did not draw")
	}

	// The live chart moves without a reload: its query window slides.
	liveOffset, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.ashreports.state("live-order-rate").offset`))
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, fmt.Sprintf(`window.ashreports.state("live-order-rate").offset > %d`, liveOffset), "the live order rate chart did not update")

	// An order inserted into the demo database shows in the product chart.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "demo-sales.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO sales (date, region, product, amount) VALUES (?, 'Europe', 'Quantum Widget', 999999)`, time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `[...document.querySelectorAll('[data-chart-id="product-performance"] svg text')].some(e => e.textContent === "Quantum Widget")`,
		"a new product in the sales database was not drawn")

	time.Sleep(time.Second) // let the chart's transition finish for the picture
	screenshot(t, ctx, "dashboard.png")

	// The server goes away and comes back: the page says so, reconnects
	// and resubscribes every chart.
	epochs := map[string]string{}
	for _, id := range demoCharts {
		e, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`window.ashreports.state(%q).epoch`, id)))
		if err != nil {
			t.Fatal(err)
		}
		epochs[id] = e
	}
	s.Close()
	waitJS(t, ctx, 20*time.Second, `window.ashreports.connState() === "reconnecting" && document.querySelector("[data-conn-state]").dataset.connState === "reconnecting"`,
		"the page did not show that it lost the connection")
	s.Restart()
	waitJS(t, ctx, 20*time.Second, `window.ashreports.connState() === "live"`, "the page did not reconnect")
	// The new server holds the page's subscriptions again, and each
	// chart kept its epoch: its stream survived the restart, so the page
	// resumed it instead of starting over.
	wait.For(t, 20*time.Second, 100*time.Millisecond, func() error {
		if n := metric(t, s.URL, "ashreports_subscriptions"); n != float64(len(demoCharts)) {
			return fmt.Errorf("the restarted server holds %v subscriptions, want %d", n, len(demoCharts))
		}
		return nil
	})
	for _, id := range demoCharts {
		waitJS(t, ctx, 20*time.Second, fmt.Sprintf(`(() => {
			const st = window.ashreports.state(%q);
			return !!st && st.epoch === %q && st.data.rows.length > 0;
		})()`, id, epochs[id]), "chart "+id+" did not resume its stream after the restart")
	}

	// A pushed update reaches a page that shows the chart, and is drawn.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/dashboards/ops")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `!!window.ashreports && window.ashreports.connState() === "live" && !!window.ashreports.state("errors")`, "the ops page did not connect")
	code, body := post(t, s.URL+"/api/v1/charts/errors/updates", "application/json",
		[]byte(`{"op":"replace","data":{"columns":[{"name":"service","type":"string"},{"name":"count","type":"number"}],"rows":[["Quantum Widget",123],["billing",10]]}}`))
	if code != 200 {
		t.Fatalf("POST: %d %v", code, body)
	}
	offset := strconv.FormatFloat(body["offset"].(float64), 'f', -1, 64)
	waitJS(t, ctx, 20*time.Second, `(() => {
		const st = window.ashreports.state("errors");
		return !!st && st.offset >= `+offset+` && st.data.rows.some(r => r[0] === "Quantum Widget");
	})()`, "the pushed update did not reach the page state")
	waitJS(t, ctx, 20*time.Second, `[...document.querySelectorAll('[data-chart-id="errors"] svg text')].some(e => e.textContent === "Quantum Widget")`,
		"the pushed update was not drawn")
	screenshot(t, ctx, "pushed.png")
}

// TestBrowserAccess: a user sees only the dashboards they hold a role on;
// a forged edit from their page is refused; signing out in one tab ends
// the session's socket in another.
func TestBrowserAccess(t *testing.T) {
	s := startServer(t)
	const pw = "dana's long password"
	dana := addUser(t, s, "dana@example.com", pw, "")
	db := s.db(t)
	if err := db.SetDashboardRole(context.Background(), "ops", dana.ID, access.Viewer); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	signInBrowser(t, ctx, s, "dana@example.com", pw)
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".dashboard-list a")].map(a => a.getAttribute("href"))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0] != "/dashboards/ops" {
		t.Fatalf("dashboards listed for a viewer of ops only: %v", links)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/dashboards/sales-analytics")); err != nil {
		t.Fatal(err)
	}
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || !strings.Contains(title, "Not found") {
		t.Errorf("a dashboard without a role: title %q, %v; want Not found", title, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/dashboards/ops")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `!!window.ashreports && window.ashreports.connState() === "live" && !!window.ashreports.state("orders")`, "the ops page did not connect")
	screenshot(t, ctx, "signed-in-viewer.png")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".edit-chart, #chart-editor, [data-csrf]").length`)); err != nil || n != 0 {
		t.Errorf("a viewer's page has %d edit controls (%v), want none", n, err)
	}
	// A forged config edit from her page is refused too.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/charts/orders/definition", {method: "PUT", headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('.account input[name="csrf_token"]').value},
		body: JSON.stringify({version: 1, chart: {id: "orders", width: 6, config: {type: "bar", title: "Forged", encoding: {x: "t", y: "n"}}}})})
		.then(async r => r.status + " " + (await r.json()).error.code)`, chromedp.EvalAwaitPromise))
	if err != nil || got != "403 forbidden" {
		t.Errorf("forged config edit: %q, %v; want 403 forbidden", got, err)
	}

	// A forged edit from the viewer's own page, with her CSRF token, is
	// refused for want of the role; without the token, for want of it.
	for _, tc := range []struct{ header, want string }{
		{`{"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('.account input[name="csrf_token"]').value}`, "403 forbidden"},
		{`{"Content-Type": "application/json"}`, "403 forbidden"},
	} {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/charts/orders/updates", {method: "POST", headers: `+tc.header+`,
			body: JSON.stringify({op: "replace", data: {columns: [{name: "t", type: "string"}], rows: []}})})
			.then(async r => r.status + " " + (await r.json()).error.code)`, chromedp.EvalAwaitPromise))
		if err != nil || got != tc.want {
			t.Errorf("forged edit: %q, %v; want %q", got, err, tc.want)
		}
	}

	// Sign out in a second tab of the same browser: the first tab's socket
	// is closed by the server, and cannot come back.
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.Navigate(s.URL+"/"), chromedp.Click(".account button"), chromedp.WaitVisible("#login-email")); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	waitJS(t, ctx, 20*time.Second, `window.ashreports.connState() !== "live"`, "the other tab's socket is still live after sign-out")
	time.Sleep(2 * time.Second) // reconnect attempts happen meanwhile
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.ashreports.connState()`)); st == "live" {
		t.Error("the signed-out tab reconnected")
	}
}

// TestBrowserChartEditor: an editor opens the editor on a chart, tries a
// change, saves it, and a viewer in another browser context sees the new
// type and title without reloading; a save over a version someone else

// person is a user of a browser test, in the default organization.
type person struct {
	email string
	role  access.Role
}

// personPassword is every browser-test person's password.
const personPassword = "a long enough password"

// onDashboard starts one browser for the test and gives each person a
// browser context of their own (their own cookies), signed in and on the
// demo dashboard once its charts have loaded. The contexts end with the
// test, or earlier through the returned cancel functions.
func onDashboard(t *testing.T, s *testServer, timeout time.Duration, people ...person) ([]context.Context, []context.CancelFunc) {
	t.Helper()
	root, cancel := context.WithTimeout(browser(t), timeout)
	t.Cleanup(cancel)
	if err := chromedp.Do(root); err != nil { // starts the browser
		t.Fatal(err)
	}
	var ctxs []context.Context
	var cancels []context.CancelFunc
	for _, p := range people {
		addUser(t, s, p.email, personPassword, p.role)
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		signInBrowser(t, ctx, s, p.email, personPassword)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/dashboards/sales-analytics")); err != nil {
			t.Fatal(err)
		}
		ctxs, cancels = append(ctxs, ctx), append(cancels, cancel)
	}
	for i, ctx := range ctxs {
		waitJS(t, ctx, 15*time.Second, `!!window.ashreports && `+
			`["monthly-sales-trend", "sales-by-region", "product-performance"].every(c => !!window.ashreports.state(c)) && `+
			`window.ashreports.presence().length === `+fmt.Sprint(len(ctxs)), "the dashboard did not load for "+people[i].email)
	}
	return ctxs, cancels
}

// saved meanwhile shows the conflict and keeps the editor's values.
func TestBrowserChartEditor(t *testing.T) {
	s := startServer(t)
	ctxs, _ := onDashboard(t, s, 120*time.Second, person{"ed@example.com", access.Editor}, person{"vi@example.com", access.Viewer})
	ed, vi := ctxs[0], ctxs[1]
	const editControls = `[data-edit-chart], [data-move-chart], [data-remove-chart], [data-add-chart], [data-undo], [data-filters-save], #chart-editor`
	if n, _ := chromedp.Run(vi, chromedp.Evaluate[int](`document.querySelectorAll("`+editControls+`").length`)); n != 0 {
		t.Errorf("the viewer's page has %d editing controls", n)
	}
	if n, _ := chromedp.Run(ed, chromedp.Evaluate[int](`document.querySelectorAll("`+editControls+`").length`)); n == 0 {
		t.Error("the editor's page has no editing controls")
	}

	// Open, change type and title, try: the preview draws the new type.
	openEditor(t, ed, `[data-edit-chart="product-performance"]`)
	waitJS(t, ed, 15*time.Second, `document.querySelector('#edit-title').value === "Product performance"`, "the editor did not load the definition")
	if err := chromedp.Do(ed,
		setField(`#edit-type`, "line"),
		setField(`#edit-title`, ""),
		chromedp.SendKeys(`#edit-title`, "Products, as a line"),
		chromedp.Click(`[data-editor-action="preview"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 20*time.Second, `document.querySelectorAll('[data-editor-canvas] svg path').length > 0 && /rows/.test(document.querySelector('[data-editor-note]').textContent)`, "the preview did not draw")
	screenshot(t, ed, "chart-editor.png")
	if title, _ := chromedp.Run(vi, chromedp.Evaluate[string](`window.ashreports.state("product-performance").config.title`)); title != "Product performance" {
		t.Errorf("a preview reached the viewer: title %q", title)
	}

	// Save: the viewer's chart changes without reload. The delay is
	// logged, not asserted: it includes chromedp's round trips and the
	// polling, and a loaded machine stretches it.
	saved := time.Now()
	if err := chromedp.Do(ed, chromedp.Click(`[data-editor-action="save"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vi, 15*time.Second, `(() => { const s = window.ashreports.state("product-performance"); return s.config.type === "line" && s.config.title === "Products, as a line" && document.querySelector("#chart-title-product-performance").textContent === "Products, as a line"; })()`, "the viewer did not see the saved change")
	t.Logf("the viewer saw the saved change after %s", time.Since(saved).Round(time.Millisecond))
	waitJS(t, ed, 15*time.Second, `!document.querySelector('#chart-editor').open`, "the editor did not close after saving")

	// The editor opens it again; meanwhile someone else saves a new title
	// (version 3). The editor's save, based on version 2, is refused with
	// the conflict message, and the editor's title stays in the form.
	if err := chromedp.Do(ed, chromedp.Click(`[data-edit-chart="product-performance"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 15*time.Second, `document.querySelector('#edit-title').value === "Products, as a line"`, "the editor did not load version 2")
	other := signedIn(t, s, "other editor", "ed@example.com", personPassword)
	def, v := definition(t, s, other, "product-performance")
	def.Config.Title = "Someone else's title"
	if status, b := other.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v)); status != 200 {
		t.Fatalf("the other save: %d %s", status, b)
	}
	if err := chromedp.Do(ed,
		setField(`#edit-title`, "My title"),
		chromedp.Click(`[data-editor-action="save"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 15*time.Second, `!document.querySelector('[data-editor-problem]').hidden && /someone else saved/i.test(document.querySelector('[data-editor-problem]').textContent)`, "no conflict message")
	screenshot(t, ed, "chart-editor-conflict.png")
	if v, _ := chromedp.Run(ed, chromedp.Evaluate[string](`document.querySelector('#edit-title').value`)); v != "My title" {
		t.Errorf("after the conflict the form holds %q, want the editor's own title", v)
	}
	// Loading their version shows it, at version 3.
	if err := chromedp.Do(ed, chromedp.Click(`[data-editor-action="reload"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 15*time.Second, `document.querySelector('#edit-title').value === "Someone else's title" && /3/.test(document.querySelector('[data-editor-version]').textContent)`, "their version did not load")

	// A bad query shows the database's message beside the SQL field.
	if err := chromedp.Do(ed,
		setField(`#edit-sql`, "SELECT product, total FROM no_such_table"),
		chromedp.Click(`[data-editor-action="preview"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 15*time.Second, `/no such table/.test(document.querySelector('#edit-sql-error').textContent) && document.querySelector('#edit-sql').getAttribute('aria-invalid') === "true"`, "the SQL error is not beside the field")
	screenshot(t, ed, "chart-editor-sql-error.png")
}

// TestBrowserCollaboration: two editors in separate browser contexts see
// each other in the presence bar; one edits a chart's type and title and
// the other's page shows it without reload, with the activity feed
// saying so; the other's save over the stale version gets the conflict
// message; a viewer's own filter changes only their view, and an editor's
// saved default changes everyone's; closing a context takes its user out
// of the others' presence within a few seconds.
func TestBrowserCollaboration(t *testing.T) {
	s := startServer(t)
	ctxs, cancels := onDashboard(t, s, 150*time.Second, person{"ada@example.com", access.Editor}, person{"ben@example.com", access.Editor})
	ada, ben, cancelAda := ctxs[0], ctxs[1], cancels[0]
	const chart = "product-performance"
	const both = `(() => { const names = window.ashreports.presence().map(u => u.name).sort().join(","); return names === "ada,ben"; })()`
	waitJS(t, ada, 15*time.Second, both, "Ada does not see Ben")
	waitJS(t, ben, 15*time.Second, both, "Ben does not see Ada")
	if n, _ := chromedp.Run(ada, chromedp.Evaluate[int](`document.querySelectorAll(".presence .person .person-name").length`)); n != 2 {
		t.Errorf("Ada's presence list has %d names, want 2 as text", n)
	}

	// Both open the editor on the same chart, at the same version. Ben
	// sees that Ada edits it, and the badge that says so does not move
	// his buttons.
	const editButton = `JSON.stringify(document.querySelector('[data-edit-chart="` + chart + `"]').getBoundingClientRect())`
	before, err := chromedp.Run(ben, chromedp.Evaluate[string](editButton))
	if err != nil {
		t.Fatal(err)
	}
	openEditor(t, ada, `[data-edit-chart="`+chart+`"]`)
	waitJS(t, ada, 15*time.Second, `document.querySelector('#edit-title').value === "Product performance"`, "Ada's editor did not load")
	waitJS(t, ben, 15*time.Second, `window.ashreports.presence().some(u => u.name === "ada" && u.editing === "`+chart+`") && /ada/.test(document.querySelector('[data-chart-id="`+chart+`"] .editing-badge')?.textContent)`, "Ben does not see that Ada edits the chart")
	if after, err := chromedp.Run(ben, chromedp.Evaluate[string](editButton)); err != nil {
		t.Fatal(err)
	} else if after != before {
		t.Errorf("Ada's editing badge moved Ben's edit button from %s to %s", before, after)
	}
	// Nor does it cover the card's title or tools.
	const covers = `(() => { const card = document.querySelector('[data-chart-id="` + chart + `"]'); const b = card.querySelector('.editing-badge').getBoundingClientRect();
		return [...card.querySelectorAll('.chart-head > *')].some(el => { const r = el.getBoundingClientRect(); return b.left < r.right && r.left < b.right && b.top < r.bottom && r.top < b.bottom; }); })()`
	if overlap, err := chromedp.Run(ben, chromedp.Evaluate[bool](covers)); err != nil || overlap {
		t.Errorf("Ada's editing badge covers the card's title or tools (%v)", err)
	}
	screenshot(t, ben, "collaboration-editing.png")
	openEditor(t, ben, `[data-edit-chart="`+chart+`"]`)
	waitJS(t, ben, 15*time.Second, `document.querySelector('#edit-title').value === "Product performance"`, "Ben's editor did not load")

	// Ada saves a new type and title: Ben's page shows them (the delay
	// is logged), and his feed says who changed what.
	if err := chromedp.Do(ada, setField(`#edit-type`, "line"), setField(`#edit-title`, "Products over time")); err != nil {
		t.Fatal(err)
	}
	saved := time.Now()
	if err := chromedp.Do(ada, chromedp.Click(`[data-editor-action="save"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ben, 15*time.Second, `(() => { const s = window.ashreports.state("`+chart+`"); return s.config.type === "line" && document.querySelector("#chart-title-`+chart+`").textContent === "Products over time"; })()`, "Ben's page did not change")
	t.Logf("Ben saw Ada's change after %s", time.Since(saved).Round(time.Millisecond))
	waitJS(t, ben, 15*time.Second, `/ada changed Products over time: type bar → line; title/.test(document.querySelector("[data-activity]").textContent)`, "Ben's activity feed does not show Ada's change")

	// Ben, still on the old version, saves: refused, with the message.
	if err := chromedp.Do(ben, setField(`#edit-title`, "Ben's title"), chromedp.Click(`[data-editor-action="save"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ben, 15*time.Second, `/someone else saved/i.test(document.querySelector('[data-editor-problem]').textContent)`, "Ben got no conflict message")
	screenshot(t, ben, "collaboration-conflict.png")
	if err := chromedp.Do(ben, chromedp.Click(`[data-editor-action="cancel"]`)); err != nil {
		t.Fatal(err)
	}

	// Ben filters his own view to one region; Ada's chart keeps all.
	if err := chromedp.Do(ben, setField(`#filter-region`, "Europe"), chromedp.Click(`[data-filters] button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
	const totalOf = `window.ashreports.state("` + chart + `").data.rows.reduce((a, r) => a + r[1], 0)`
	waitJS(t, ben, 20*time.Second, `(() => { const s = window.ashreports.state("`+chart+`"); return !!s && s.stream.includes("region=Europe"); })()`, "Ben's chart did not take his filter")
	adaTotal, _ := chromedp.Run(ada, chromedp.Evaluate[float64](totalOf))
	benTotal, _ := chromedp.Run(ben, chromedp.Evaluate[float64](totalOf))
	if benTotal >= adaTotal || benTotal <= 0 {
		t.Errorf("Ben's filtered total %v, Ada's %v: want Ben's smaller", benTotal, adaTotal)
	}
	if st, _ := chromedp.Run(ada, chromedp.Evaluate[string](`window.ashreports.state("`+chart+`").stream`)); st != chart {
		t.Errorf("Ada's stream is %q after Ben's filter, want the unfiltered %q", st, chart)
	}
	waitJS(t, ada, 15*time.Second, `/ben applied filter region = Europe/.test(document.querySelector("[data-activity]").textContent)`, "Ada's feed does not show Ben's filter")
	screenshot(t, ada, "collaboration-presence-activity.png")

	// Ben saves Europe as the default: Ada's unfiltered chart shows it.
	if err := chromedp.Do(ben, chromedp.Click(`[data-filters-save]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ada, 20*time.Second, `!!window.ashreports.state("`+chart+`") && Math.abs(`+totalOf+` - `+fmt.Sprint(benTotal)+`) < 0.01 && document.querySelector("#filter-region").value === "Europe"`, "Ada's chart did not take the new default")

	// Ada closes her browser context: she leaves Ben's presence.
	gone := time.Now()
	cancelAda()
	waitJS(t, ben, 20*time.Second, `window.ashreports.presence().map(u => u.name).join(",") === "ben"`, "Ada is still in Ben's presence")
	t.Logf("a closed browser context left presence after %s", time.Since(gone).Round(10*time.Millisecond))
}

// TestBrowserFocusAfterAPaceRefusal: the server takes one focus message
// per 100 ms by arrival, so two the network bunched up are refused
// although the page sent them far enough apart. The page says its focus
// again: others still see that it edits.
func TestBrowserFocusAfterAPaceRefusal(t *testing.T) {
	s := startServer(t)
	ctxs, _ := onDashboard(t, s, 90*time.Second, person{"ada@example.com", access.Editor}, person{"ben@example.com", access.Viewer})
	ada, ben := ctxs[0], ctxs[1]
	// Right before Ada's page says it edits, another focus message
	// reaches the server: the server takes that one and refuses hers. The
	// page counts the refusals it is sent.
	const bunch = `(() => { const send = WebSocket.prototype.send; let done = false; window.refused = 0;
		WebSocket.prototype.send = function (data) {
			if (!done && typeof data === "string" && data.includes('"type":"focus"') && data.includes('"editing":true')) {
				done = true;
				this.addEventListener("message", (e) => { if (String(e.data).includes('"rate_limited"')) window.refused++; });
				send.call(this, JSON.stringify({ type: "focus", ref: "bunched", chart: "", editing: false }));
			}
			return send.call(this, data);
		}; })()`
	if err := chromedp.Do(ada, evalJS(bunch)); err != nil {
		t.Fatal(err)
	}
	openEditor(t, ada, `[data-edit-chart="product-performance"]`)
	waitJS(t, ben, 15*time.Second, `window.ashreports.presence().some(u => u.name === "ada" && u.editing === "product-performance")`, "Ben does not see that Ada edits the chart")
	// The server takes the two messages 100 ms apart only if it stalls
	// between them for that long; the run then did not test the retry,
	// which the log says.
	if n, err := chromedp.Run(ada, chromedp.Evaluate[int](`window.refused`)); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("focus messages refused for pace: %d", n)
	}
}

// TestBrowserDashboardEditing: an editor adds a chart from a query, moves
// it and removes another; a viewer's page follows each change without a
// reload, and its socket stays live; a change based on an old layout is
// refused with a message.
func TestBrowserDashboardEditing(t *testing.T) {
	s := startServer(t)
	ctxs, _ := onDashboard(t, s, 120*time.Second, person{"ed@example.com", access.Editor}, person{"vi@example.com", access.Viewer})
	ed, vi := ctxs[0], ctxs[1]
	order := `[...document.querySelectorAll(".grid [data-chart-id]")].map(c => c.dataset.chartId).join(",")`
	const start = "monthly-sales-trend,sales-by-region,product-performance,live-order-rate"
	if got, _ := chromedp.Run(vi, chromedp.Evaluate[string](order)); got != start {
		t.Fatalf("viewer's charts %q", got)
	}

	// Add a chart: the dialog starts from a query, which the editor
	// changes; a taken id is refused beside the id field.
	openEditor(t, ed, `[data-add-chart]`)
	waitJS(t, ed, 15*time.Second, `!document.querySelector('[data-editor-id]').hidden && document.querySelector('#edit-source').value === "demo"`, "the new-chart editor did not open")
	if err := chromedp.Do(ed,
		setField(`#edit-id`, "sales-by-region"),
		setField(`#edit-title`, "Orders by product"),
		setField(`#edit-x`, "product"),
		setField(`#edit-y`, "orders"),
		setField(`#edit-sql`, "SELECT product, count(*) AS orders FROM sales GROUP BY product ORDER BY product"),
		chromedp.Click(`[data-editor-action="save"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 15*time.Second, `/is taken/.test(document.querySelector('#edit-id-error').textContent)`, "a taken id was not refused beside the field")
	if err := chromedp.Do(ed, setField(`#edit-id`, "orders-by-product"), chromedp.Click(`[data-editor-action="save"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vi, 15*time.Second, `(() => { const s = window.ashreports.state("orders-by-product"); return !!s && s.data.rows.length === 5 && document.querySelector("#chart-title-orders-by-product").textContent === "Orders by product"; })()`, "the viewer did not get the new chart with its data")
	waitJS(t, vi, 15*time.Second, `/ed added the chart Orders by product/.test(document.querySelector("[data-activity]").textContent)`, "the viewer's feed does not show the new chart")

	// Move it earlier, past the chart before it.
	if err := chromedp.Do(ed, chromedp.Click(`[data-move-chart="orders-by-product"][data-by="-1"]`)); err != nil {
		t.Fatal(err)
	}
	const moved = "monthly-sales-trend,sales-by-region,product-performance,orders-by-product,live-order-rate"
	waitJS(t, vi, 15*time.Second, order+` === "`+moved+`"`, "the viewer's page did not take the move")

	// Remove a chart: it leaves the viewer's page, whose socket stays.
	if err := chromedp.Do(ed,
		evalJS(`window.confirm = () => true`),
		chromedp.Click(`[data-remove-chart="sales-by-region"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vi, 15*time.Second, `!document.querySelector('[data-chart-id="sales-by-region"]')`, "the removed chart stayed on the viewer's page")
	screenshot(t, ed, "dashboard-editing.png")
	time.Sleep(1500 * time.Millisecond) // past the server's access recheck
	if st, _ := chromedp.Run(vi, chromedp.Evaluate[string](`window.ashreports.connState()`)); st != "live" {
		t.Errorf("the viewer's socket is %s after a chart was removed, want live", st)
	}

	// A width saved in the chart editor moves the layout version on; the
	// page learns the new one, so its next move is not a conflict.
	openEditor(t, ed, `[data-edit-chart="orders-by-product"]`)
	waitJS(t, ed, 15*time.Second, `document.querySelector('#edit-title').value === "Orders by product"`, "the editor did not load")
	if err := chromedp.Do(ed, setField(`#edit-width`, "12"), chromedp.Click(`[data-editor-action="save"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vi, 15*time.Second, `document.querySelector('[data-chart-id="orders-by-product"]').style.getPropertyValue("--span") === "12"`, "the viewer's card did not take the new width")
	waitJS(t, ed, 15*time.Second, `!document.querySelector('#chart-editor').open`, "the editor did not close")
	if err := chromedp.Do(ed, chromedp.Click(`[data-move-chart="orders-by-product"][data-by="1"]`)); err != nil {
		t.Fatal(err)
	}
	const after = "monthly-sales-trend,product-performance,live-order-rate,orders-by-product"
	waitJS(t, vi, 15*time.Second, order+` === "`+after+`"`, "the move after a resize did not reach the viewer")
	if hidden, _ := chromedp.Run(ed, chromedp.Evaluate[bool](`document.querySelector('[data-layout-problem]').hidden`)); !hidden {
		t.Error("the move after a resize was refused as a conflict")
	}

	// A change based on the old layout version is refused, and the page
	// shows the current layout.
	if err := chromedp.Do(ed,
		evalJS(`document.querySelector("[data-dashboard-id]").dataset.layoutVersion = "1"`),
		chromedp.Click(`[data-move-chart="live-order-rate"][data-by="1"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ed, 15*time.Second, `!document.querySelector('[data-layout-problem]').hidden && /someone else changed/i.test(document.querySelector('[data-layout-problem]').textContent)`, "no conflict message for a stale layout")
	if got, _ := chromedp.Run(vi, chromedp.Evaluate[string](order)); got != after {
		t.Errorf("after the refused move the viewer's charts are %q", got)
	}
}

// TestBrowserAdministration: an organization's admin changes a member's
// role, creates an API token (its secret shown once) and revokes it from
// the administration page; a viewer gets no such page.
func TestBrowserAdministration(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "root@example.com", pw, access.Admin)
	vic := addUser(t, s, "vic@example.com", pw, access.Viewer)
	ctx := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	signInBrowser(t, ctx, s, "root@example.com", pw)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.topbar a[href="/admin"]').length`)); err != nil || n != 1 {
		t.Errorf("the admin's top bar has %d links to /admin (%v), want 1", n, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/admin"), chromedp.WaitVisible(`[data-token-form]`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		setField(`[data-role-of="`+vic.ID+`"]`, "editor"),
		chromedp.Click(`[data-set-role="`+vic.ID+`"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `document.querySelector('[data-admin-problem]').textContent === "Saved."`, "the role change was not saved")
	db := s.db(t)
	if ms, _ := db.Memberships(context.Background(), vic.ID); len(ms) != 1 || ms[0].Role != access.Editor {
		t.Errorf("vic's memberships after the change: %+v", ms)
	}

	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`#token-name`, "ci"),
		chromedp.Click(`[data-token-form] input[value="publish_data"]`),
		chromedp.Click(`[data-token-form] button[type="submit"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `/ashr_/.test(document.querySelector('[data-token-secret]').textContent)`, "the new token's secret was not shown")
	screenshot(t, ctx, "administration.png")
	toks, err := db.Tokens(context.Background(), auth.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	var made auth.Token
	for _, tk := range toks {
		if tk.Name == "ci" {
			made = tk
		}
	}
	if made.ID == "" || len(made.Scopes) != 1 || made.Scopes[0] != access.PublishData {
		t.Fatalf("tokens after creating ci: %+v", toks)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/admin"),
		evalJS(`window.confirm = () => true`),
		chromedp.Click(`[data-revoke-token="`+made.ID+`"]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `!document.querySelector('[data-revoke-token="`+made.ID+`"]')`, "the token was not revoked on the page")
	if tk, err := db.TokenByID(context.Background(), made.ID); err != nil || tk.RevokedAt.IsZero() {
		t.Errorf("the token after revoking: %+v %v", tk, err)
	}

	// A viewer has no administration page, nor the link.
	vi := signedIn(t, s, "viewer", "vic@example.com", pw) // now an editor: still not an admin
	if status, body, _ := page(t, vi.c, s.URL+"/admin"); status != http.StatusForbidden || strings.Contains(body, "data-token-form") {
		t.Errorf("a non-admin's /admin: %d", status)
	}
	if _, body, _ := page(t, vi.c, s.URL+"/"); strings.Contains(body, `href="/admin"`) {
		t.Error("a non-admin's page links to /admin")
	}
}
