package room

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/leaktest"
	"github.com/ashreports/ashreports/internal/natsbroker"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// inbox collects the frames sent to one connection.
type inbox struct {
	mu     sync.Mutex
	frames [][]byte
}

func (b *inbox) send(f []byte) {
	b.mu.Lock()
	b.frames = append(b.frames, append([]byte(nil), f...))
	b.mu.Unlock()
}

// users is the last presence frame's list, as "user:tabs:focus:editing".
func (b *inbox) users() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.frames) - 1; i >= 0; i-- {
		var f struct {
			Type  string
			Users []User
		}
		if json.Unmarshal(b.frames[i], &f) == nil && f.Type == "presence" {
			out := []string{}
			for _, u := range f.Users {
				out = append(out, fmt.Sprintf("%s:%d:%s:%s", u.User, u.Tabs, u.Focus, u.Editing))
			}
			return out
		}
	}
	return nil
}

func (b *inbox) events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	for _, fr := range b.frames {
		var f struct {
			Type  string
			Event Event
		}
		if json.Unmarshal(fr, &f) == nil && f.Type == "activity" {
			out = append(out, f.Event)
		}
	}
	return out
}

// waitUsers waits until b's last presence list is want.
func waitUsers(t *testing.T, b *inbox, within time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := b.users()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence %v after %s, want %v", got, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// node starts rooms on a shared broker, as another node of a cluster
// would, closed at the test's end.
func node(t *testing.T, b *natsbroker.Broker, ttl time.Duration) *Rooms {
	t.Helper()
	r, err := Start(context.Background(), Config{NC: b.Conn(), JS: b.JetStream(), TTL: ttl, Heartbeat: ttl / 4, Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func broker(t *testing.T) *natsbroker.Broker {
	t.Helper()
	b, err := natsbroker.Start(context.Background(), natsbroker.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func join(t *testing.T, r *Rooms, dash, user, conn string, b *inbox) *Handle {
	t.Helper()
	h, err := r.Join(dash, conn, Member{User: user, Name: user, Role: "viewer", Color: ColorOf(user)}, b.send)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPresenceJoinLeaveTabs(t *testing.T) {
	b := broker(t)
	r := node(t, b, 3*time.Second)
	var ann1, ann2, bob inbox
	a1 := join(t, r, "sales", "ann", "c1", &ann1)
	waitUsers(t, &ann1, 10*time.Second, "ann:1::")
	a2 := join(t, r, "sales", "ann", "c2", &ann2)
	waitUsers(t, &ann1, 10*time.Second, "ann:2::") // one entry for two tabs
	bh := join(t, r, "sales", "bob", "c3", &bob)
	waitUsers(t, &bob, 10*time.Second, "ann:2::", "bob:1::")
	var other inbox
	oh := join(t, r, "ops", "cy", "c4", &other) // another room: not seen
	waitUsers(t, &other, 10*time.Second, "cy:1::")

	// Focus and editing: the tab that changed last speaks for the user.
	if err := a2.Set("product-performance", "product-performance"); err != nil {
		t.Fatal(err)
	}
	waitUsers(t, &bob, 10*time.Second, "ann:2:product-performance:product-performance", "bob:1::")
	a2.Leave()
	waitUsers(t, &bob, 10*time.Second, "ann:1::", "bob:1::")
	a2.Leave() // twice is harmless
	bh.Leave()
	waitUsers(t, &ann1, 10*time.Second, "ann:1::")
	if got := ann1.users(); len(got) != 1 {
		t.Errorf("ann sees %v", got)
	}
	a1.Leave()
	oh.Leave()
}

// A node that dies leaves its connections' entries behind, without a
// delete: the other nodes see them go within the TTL.
func TestPresenceOfADeadNodeExpires(t *testing.T) {
	b := broker(t)
	const ttl = 5 * time.Second // heartbeats every ttl/4 keep dan through a stall of several seconds
	n1 := node(t, b, ttl)
	n2, err := Start(context.Background(), Config{NC: b.Conn(), JS: b.JetStream(), TTL: ttl, Heartbeat: ttl / 4, Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ann, dan inbox
	h := join(t, n1, "sales", "ann", "c1", &ann)
	defer h.Leave()
	join(t, n2, "sales", "dan", "c2", &dan)
	waitUsers(t, &ann, 10*time.Second, "ann:1::", "dan:1::")
	// Heartbeats keep dan while n2 lives, past the TTL.
	time.Sleep(ttl + ttl/2)
	waitUsers(t, &ann, 0, "ann:1::", "dan:1::")
	dead := time.Now()
	n2.Close() // no Leave: as if the process were killed
	// The TTL counts from dan's last heartbeat; the marker follows within
	// a second.
	waitUsers(t, &ann, 2*ttl+5*time.Second, "ann:1::")
	t.Logf("a dead node's user left after %s (TTL %s)", time.Since(dead).Round(100*time.Millisecond), ttl)
}

func TestActivityReachesEveryNode(t *testing.T) {
	b := broker(t)
	n1, n2 := node(t, b, 5*time.Second), node(t, b, 5*time.Second)
	var ann, dan, cy inbox
	defer join(t, n1, "sales", "ann", "c1", &ann).Leave()
	defer join(t, n2, "sales", "dan", "c2", &dan).Leave()
	defer join(t, n2, "ops", "cy", "c3", &cy).Leave()
	waitUsers(t, &dan, 10*time.Second, "ann:1::", "dan:1::")
	if err := n1.Publish("sales", Event{Kind: "filter_applied", User: "ann", Name: "Ann", Filters: map[string]string{"region": "North America"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(dan.events()) == 0 || len(ann.events()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("events: ann %v, dan %v", ann.events(), dan.events())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e := dan.events()[0]; e.Kind != "filter_applied" || e.Filters["region"] != "North America" || e.At == 0 {
		t.Errorf("dan got %+v", e)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(cy.events()); n != 0 {
		t.Errorf("another room got %d events", n)
	}
}

func TestJoinRefusesBadKeys(t *testing.T) {
	r := node(t, broker(t), time.Second)
	if _, err := r.Join("sales.x", "c1", Member{User: "ann"}, func([]byte) {}); err == nil {
		t.Error("a dashboard id with a dot joined")
	}
	if _, err := r.Join("sales", "c1", Member{User: "a*"}, func([]byte) {}); err == nil {
		t.Error("a user id with * joined")
	}
}

func TestColorOfIsStable(t *testing.T) {
	if got := ColorOf("usr_abc"); got != "#1d4ed8" {
		t.Errorf("ColorOf(usr_abc) = %s; a user's colour must not change between releases or nodes", got)
	}
	seen := map[string]bool{}
	for i := range 50 {
		seen[ColorOf(fmt.Sprintf("usr_%d", i))] = true
	}
	if len(seen) < 5 {
		t.Errorf("50 users got %d colours", len(seen))
	}
}
