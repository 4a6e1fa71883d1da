package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
)

// roomFrame is a presence or activity frame.
type roomFrame struct {
	Type      string
	Dashboard string
	Users     []struct {
		User, Name, Role, Color, Focus, Editing string
		Tabs                                    int
	}
	Event struct {
		Kind, Name, Chart, Title, Changes string
		Width                             int
		Filters                           map[string]string
	}
}

// nextRoomFrame returns the next frame of type typ, skipping others; it
// fails once within has passed (each read itself waits at most 15 s).
func nextRoomFrame(t *testing.T, c *client, typ string, within time.Duration) roomFrame {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var f roomFrame
		if err := json.Unmarshal(c.readLine(), &f); err != nil {
			t.Fatal(err)
		}
		if f.Type == typ {
			return f
		}
	}
	t.Fatalf("no %s frame within %s", typ, within)
	return roomFrame{}
}

// presenceOf waits for a presence frame whose users are want, given as
// "name:tabs:focus:editing", and returns it.
func presenceOf(t *testing.T, c *client, within time.Duration, want ...string) roomFrame {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []string
	for time.Now().Before(deadline) {
		f := nextRoomFrame(t, c, "presence", time.Until(deadline))
		last = last[:0]
		for _, u := range f.Users {
			last = append(last, fmt.Sprintf("%s:%d:%s:%s", u.Name, u.Tabs, u.Focus, u.Editing))
		}
		if strings.Join(last, " ") == strings.Join(want, " ") {
			return f
		}
	}
	t.Fatalf("presence %v, want %v", last, want)
	return roomFrame{}
}

func joinRoom(t *testing.T, c *client, dashboard string) frame {
	t.Helper()
	return c.request("join", map[string]any{"type": "join", "dashboard": dashboard})
}

// TestPresenceOverSockets: two tabs of one user show as one entry; focus
// and editing reach the others; a connection dropped without a close
// frame leaves the room within seconds; a filter and a chart edit reach
// the room's activity feed; tokens and strangers cannot join.
func TestPresenceOverSockets(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "ann@example.com", pw, access.Viewer)
	addUser(t, s, "bob@example.com", pw, access.Editor)
	ann := signedIn(t, s, "Ann", "ann@example.com", pw)
	bob := signedIn(t, s, "Bob", "bob@example.com", pw)
	const dash = "sales-analytics"

	tab1, _, err := dialAs(t, s, ann.c)
	if err != nil {
		t.Fatal(err)
	}
	if r := joinRoom(t, tab1, dash); !r.OK {
		t.Fatalf("join: %+v", r.Error)
	}
	presenceOf(t, tab1, 10*time.Second, "ann:1::")
	// Two joins sent at once: the second is refused.
	tab2, _, _ := dialAs(t, s, ann.c)
	tab2.send(`{"type":"join","dashboard":"` + dash + `","ref":"join"}`)
	tab2.send(`{"type":"join","dashboard":"` + dash + `","ref":"again"}`)
	if r := tab2.reply("join"); !r.OK {
		t.Fatalf("join: %+v", r.Error)
	}
	if r := tab2.reply("again"); r.OK || r.Error.Code != "rate_limited" {
		t.Errorf("a second join at once: %+v, want rate_limited", r)
	}
	presenceOf(t, tab1, 10*time.Second, "ann:2::")
	b, _, _ := dialAs(t, s, bob.c)
	joinRoom(t, b, dash)
	f := presenceOf(t, tab1, 10*time.Second, "ann:2::", "bob:1::")
	if f.Users[1].Role != "editor" || !strings.HasPrefix(f.Users[1].Color, "#") || f.Users[0].Role != "viewer" {
		t.Errorf("users %+v, want roles and colours", f.Users)
	}
	presenceOf(t, b, 10*time.Second, "ann:2::", "bob:1::")

	// Bob edits a chart: Ann sees which.
	if r := b.request("f", map[string]any{"type": "focus", "chart": "product-performance", "editing": true}); !r.OK {
		t.Fatalf("focus: %+v", r.Error)
	}
	presenceOf(t, tab1, 10*time.Second, "ann:2::", "bob:1:product-performance:product-performance")

	// A filter of Bob's own view goes to the activity feed.
	if r := b.request("fl", map[string]any{"type": "filter", "filters": map[string]string{"region": "North America"}}); !r.OK {
		t.Fatalf("filter: %+v", r.Error)
	}
	ev := nextRoomFrame(t, tab1, "activity", 10*time.Second).Event
	if ev.Kind != "filter_applied" || ev.Name != "bob" || ev.Filters["region"] != "North America" {
		t.Errorf("activity %+v", ev)
	}

	// Bob saves a chart edit: the feed says what changed, with the width.
	def, v := definition(t, s, bob, "product-performance")
	def.Config.Type, def.Width = "line", 12
	if status, body := bob.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v)); status != http.StatusOK {
		t.Fatalf("save: %d %s", status, body)
	}
	ev = nextRoomFrame(t, tab1, "activity", 10*time.Second).Event
	if ev.Kind != "chart_edited" || ev.Name != "bob" || ev.Chart != "product-performance" || ev.Width != 12 || !strings.Contains(ev.Changes, "type bar → line") {
		t.Errorf("activity %+v", ev)
	}

	// Bob's connection dies without a close frame: he leaves at once.
	gone := time.Now()
	b.ws.CloseNow()
	presenceOf(t, tab1, 10*time.Second, "ann:2::")
	t.Logf("a dropped connection left presence after %s", time.Since(gone).Round(time.Millisecond))
	// One of Ann's tabs closes: she stays, with one tab.
	tab2.ws.Close(websocket.StatusNormalClosure, "")
	presenceOf(t, tab1, 10*time.Second, "ann:1::")

	// Room messages are checked: a viewer cannot claim to edit, a chart
	// must be the dashboard's, a filter one of its filters, at most 16 of
	// them; and they are paced.
	seventeen := map[string]string{}
	for i := range 17 {
		seventeen[fmt.Sprint("f", i)] = "x"
	}
	checks := []struct {
		msg         map[string]any
		code, field string
	}{
		{map[string]any{"type": "focus", "chart": "product-performance", "editing": true}, "forbidden", ""},
		{map[string]any{"type": "focus", "chart": "orders"}, "invalid", "chart"},
		{map[string]any{"type": "filter", "filters": map[string]string{"nope": "x"}}, "invalid", "filters.nope"},
		{map[string]any{"type": "filter", "filters": map[string]string{"region": strings.Repeat("x", 300)}}, "invalid", "filters.region"},
		{map[string]any{"type": "filter", "filters": seventeen}, "invalid", "filters"},
	}
	for i, c := range checks {
		// Past the pace: one focus per 100 ms, one filter a second.
		if c.msg["type"] == "focus" {
			time.Sleep(150 * time.Millisecond)
		} else {
			time.Sleep(1100 * time.Millisecond)
		}
		if r := tab1.request(fmt.Sprint("c", i), c.msg); r.OK || r.Error.Code != c.code || r.Error.Field != c.field {
			t.Errorf("%v: %+v, want %s on %q", c.msg, r.Error, c.code, c.field)
		}
	}
	// The viewer's refused claim to edit was audited, as a refusal at any
	// other door is.
	denied := 0
	for _, e := range s.auditLog(t, auth.DefaultOrg) {
		if e.Action == "denied" && strings.HasPrefix(e.Detail, "edit_charts") && e.Target == "product-performance" {
			denied++
		}
	}
	if denied != 1 {
		t.Errorf("the refused claim to edit made %d audit entries, want 1", denied)
	}
	time.Sleep(1100 * time.Millisecond)
	tab1.send(`{"type":"filter","filters":{"region":"Europe"},"ref":"p1"}`)
	tab1.send(`{"type":"filter","filters":{"region":"Asia"},"ref":"p2"}`)
	if r := tab1.reply("p1"); !r.OK {
		t.Errorf("a good filter: %+v", r.Error)
	}
	if r := tab1.reply("p2"); r.OK || r.Error.Code != "rate_limited" {
		t.Errorf("a second filter at once: %+v, want rate_limited", r)
	}

	// A token cannot join; neither can a user without a role there, who
	// is told the dashboard does not exist.
	tok := dial(t, s.URL)
	if r := joinRoom(t, tok, dash); r.OK || r.Error.Code != "forbidden" {
		t.Errorf("token join: %+v", r)
	}
	addUser(t, s, "nora@example.com", pw, "")
	nora := signedIn(t, s, "Nora", "nora@example.com", pw)
	nc, _, _ := dialAs(t, s, nora.c)
	if r := joinRoom(t, nc, dash); r.OK || r.Error.Code != "not_found" {
		t.Errorf("join without a role: %+v", r)
	}
	if r := nc.request("x", map[string]any{"type": "focus", "chart": "x"}); r.OK {
		t.Error("focus without joining was accepted")
	}
}
