package room

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// entry is a presence bucket's change, as a watcher gets it.
type entry struct {
	jetstream.KeyValueEntry
	key string
	m   *Member // nil: deleted
}

func (e entry) Key() string   { return e.key }
func (e entry) Value() []byte { b, _ := json.Marshal(e.m); return b }
func (e entry) Operation() jetstream.KeyValueOp {
	if e.m == nil {
		return jetstream.KeyValueDelete
	}
	return jetstream.KeyValuePut
}

// TestPresenceIsDebounced: the changes of a room within the debounce
// window go to its connections as one presence frame, sent when the
// window ends, not before; a heartbeat that changes nothing sends nothing,
// and a connection that joins later still gets the list.
func TestPresenceIsDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Rooms{cfg: Config{Debounce: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}}
		var mu sync.Mutex
		var frames []string
		h := &Handle{fresh: true, send: func(b []byte) {
			mu.Lock()
			defer mu.Unlock()
			frames = append(frames, string(b))
		}}
		rm := &room{id: "sales", watched: make(chan struct{}), entries: map[string]Member{}, local: map[*Handle]struct{}{h: {}}}
		got := func() []string {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), frames...)
		}
		ann := &Member{User: "ann", Name: "Ann", Since: 1}
		r.update(rm, entry{key: "sales.ann.c1", m: ann})
		r.update(rm, nil) // the initial values are in: the list is due
		time.Sleep(50 * time.Millisecond)
		r.update(rm, entry{key: "sales.bob.c2", m: &Member{User: "bob", Name: "Bob", Since: 2}})
		time.Sleep(49 * time.Millisecond)
		if f := got(); len(f) != 0 {
			t.Fatalf("frames before the window ended: %q", f)
		}
		time.Sleep(time.Millisecond)
		f := got()
		if len(f) != 1 {
			t.Fatalf("%d frames at the window's end, want 1: %q", len(f), f)
		}
		var p struct {
			Users []User `json:"users"`
		}
		if err := json.Unmarshal([]byte(f[0]), &p); err != nil || len(p.Users) != 2 || p.Users[0].User != "ann" || p.Users[1].User != "bob" {
			t.Fatalf("presence frame %s, want ann and bob", f[0])
		}
		// A heartbeat writes the same entry again: nothing to send.
		r.update(rm, entry{key: "sales.ann.c1", m: ann})
		time.Sleep(time.Second)
		if f := got(); len(f) != 1 {
			t.Fatalf("a heartbeat sent a frame: %q", f[1:])
		}
		// Bob leaves and comes back within the window: one frame, and
		// since the list is the same as before, only to a new connection.
		late := &Handle{fresh: true, send: h.send}
		rm.mu.Lock()
		rm.local[late] = struct{}{}
		rm.mu.Unlock()
		r.update(rm, entry{key: "sales.bob.c2"})
		r.update(rm, entry{key: "sales.bob.c2", m: &Member{User: "bob", Name: "Bob", Since: 2}})
		time.Sleep(100 * time.Millisecond)
		if f := got(); len(f) != 2 || f[1] != f[0] {
			t.Fatalf("frames %q, want the unchanged list once more, to the new connection", f)
		}
	})
}
