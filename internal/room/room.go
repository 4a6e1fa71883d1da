package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the presence bucket; EventPrefix starts each room's activity
// subject.
const (
	Bucket      = "ash_presence"
	EventPrefix = "ash.room."
)

// Config wires Rooms.
type Config struct {
	NC *nats.Conn
	JS jetstream.JetStream
	// TTL is how long a connection's presence outlives its last heartbeat;
	// 15s when zero.
	TTL time.Duration
	// Heartbeat is how often each connection's presence is written again;
	// a third of the TTL when zero.
	Heartbeat time.Duration
	// Debounce gathers the changes of a room into one presence frame;
	// 100ms when zero.
	Debounce time.Duration
	Logger   *slog.Logger
}

// Member is one connection on a dashboard, as stored in the bucket.
type Member struct {
	User    string `json:"user"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Color   string `json:"color"`
	Focus   string `json:"focus,omitempty"`
	Editing string `json:"editing,omitempty"`
	// Since is when the connection joined, Changed when its focus or
	// editing last changed (Unix milliseconds).
	Since   int64 `json:"since"`
	Changed int64 `json:"changed"`
}

// User is one user in a room: all their connections together.
type User struct {
	User  string `json:"user"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	Color string `json:"color"`
	Tabs  int    `json:"tabs"`
	// Focus and Editing are those of the user's tab that changed last.
	Focus   string `json:"focus,omitempty"`
	Editing string `json:"editing,omitempty"`
}

// Event is one entry of a room's activity feed.
type Event struct {
	// Kind is chart_edited, filter_applied (a viewer's own view),
	// defaults_saved (the dashboard's default filters), chart_added,
	// chart_removed or layout_changed (moved or resized).
	Kind  string `json:"kind"`
	User  string `json:"user"`
	Name  string `json:"name"`
	Color string `json:"color"`
	Chart string `json:"chart,omitempty"`
	Title string `json:"title,omitempty"`
	// Changes says what an edit changed ("type bar → line; title").
	Changes string `json:"changes,omitempty"`
	// Width is an edited chart's width, which pages apply at once.
	Width int `json:"width,omitempty"`
	// Layout is the dashboard's charts after a layout change, which
	// pages apply at once.
	Layout  *dashboard.Layout `json:"layout,omitempty"`
	Filters map[string]string `json:"filters,omitempty"`
	At      int64             `json:"at"`
}

// palette are the presence colours: distinct, and each dark enough for
// white text (WCAG AA).
var palette = []string{"#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#b45309", "#0e7490", "#be185d", "#4d7c0f", "#9333ea", "#c2410c"}

// ColorOf is a user's presence colour, the same on every node.
func ColorOf(userID string) string {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return palette[h.Sum32()%uint32(len(palette))]
}

var keyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Rooms tracks this node's connections in rooms.
type Rooms struct {
	cfg    Config
	kv     jetstream.KeyValue
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	rooms map[string]*room
}

type room struct {
	id      string
	stop    context.CancelFunc
	unsub   *nats.Subscription
	watched chan struct{} // closed once the watcher has the initial values

	mu      sync.Mutex
	entries map[string]Member // every node's connections, by key
	local   map[*Handle]struct{}
	last    []byte // the last presence frame sent
	timer   *time.Timer
	// sendMu keeps the room's frames in order while they are written to
	// its connections, outside mu: a change of the room waits for the
	// writes only when it has a frame of its own to send while another
	// is being written. Taken after mu.
	sendMu sync.Mutex
}

// sendTo writes frame to hs in order with the room's other frames, and
// releases rm.mu, which the caller holds, before the writes.
func (rm *room) sendTo(hs []*Handle, frame []byte) {
	rm.sendMu.Lock()
	rm.mu.Unlock()
	defer rm.sendMu.Unlock()
	for _, h := range hs {
		h.send(frame)
	}
}

// Handle is one connection's place in a room.
type Handle struct {
	rooms *Rooms
	room  *room
	key   string
	send  func(frame []byte)

	mu   sync.Mutex // guards m and left
	m    Member
	left bool
	// io orders the connection's writes to the bucket, so that a
	// heartbeat cannot write the entry again after Leave deleted it.
	io    sync.Mutex
	fresh bool // has not had a presence frame yet; guarded by room.mu
}

// Start creates (or updates) the presence bucket and starts the
// heartbeat. Close stops it.
func Start(ctx context.Context, cfg Config) (*Rooms, error) {
	if cfg.TTL == 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = cfg.TTL / 3
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := cfg.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  Bucket,
		History: 1,
		TTL:     cfg.TTL,
		Storage: jetstream.FileStorage,
		// Markers make the watchers hear of keys that the TTL removed.
		LimitMarkerTTL: cfg.TTL,
	})
	if err != nil {
		return nil, fmt.Errorf("presence bucket: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Rooms{cfg: cfg, kv: kv, ctx: rctx, cancel: cancel, rooms: map[string]*room{}}
	r.wg.Go(r.heartbeat)
	return r, nil
}

// Join puts a connection into a dashboard's room and returns its handle;
// send gets the room's presence and activity frames until Leave. The
// member's Since and Changed are set here.
func (r *Rooms) Join(dashboard, connID string, m Member, send func([]byte)) (*Handle, error) {
	for _, p := range []string{dashboard, m.User, connID} {
		if !keyPart.MatchString(p) {
			return nil, fmt.Errorf("room key part %q: not a-z, 0-9, - or _", p)
		}
	}
	now := time.Now().UnixMilli()
	m.Since, m.Changed = now, now
	h := &Handle{rooms: r, key: dashboard + "." + m.User + "." + connID, send: send, m: m, fresh: true}
	rm, err := r.enter(dashboard, h)
	if err != nil {
		return nil, err
	}
	h.room = rm
	if err := h.put(); err != nil {
		h.Leave()
		return nil, err
	}
	return h, nil
}

// enter adds h to the room, watching the room first if h is its first
// local connection.
func (r *Rooms) enter(dashboard string, h *Handle) (*room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return nil, errors.New("rooms closed")
	}
	rm, ok := r.rooms[dashboard]
	if !ok {
		var err error
		if rm, err = r.watch(dashboard); err != nil {
			return nil, err
		}
		r.rooms[dashboard] = rm
	}
	rm.mu.Lock()
	rm.local[h] = struct{}{}
	rm.mu.Unlock()
	return rm, nil
}

// watch starts following a room's presence keys and activity. r.mu is
// held.
func (r *Rooms) watch(dashboard string) (*room, error) {
	ctx, stop := context.WithCancel(r.ctx)
	rm := &room{id: dashboard, stop: stop, watched: make(chan struct{}), entries: map[string]Member{}, local: map[*Handle]struct{}{}}
	w, err := r.kv.Watch(ctx, dashboard+".>")
	if err != nil {
		stop()
		return nil, fmt.Errorf("watch room %s: %w", dashboard, err)
	}
	rm.unsub, err = r.cfg.NC.Subscribe(EventPrefix+dashboard, func(msg *nats.Msg) { rm.broadcast(msg.Data) })
	if err != nil {
		stop()
		_ = w.Stop()
		return nil, fmt.Errorf("room %s activity: %w", dashboard, err)
	}
	r.wg.Go(func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				r.update(rm, e)
			}
		}
	})
	return rm, nil
}

// update takes one change of a room's keys.
func (r *Rooms) update(rm *room, e jetstream.KeyValueEntry) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if e == nil { // the initial values are in
		close(rm.watched)
		r.schedule(rm)
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(rm.entries, e.Key())
	} else {
		var m Member
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			r.cfg.Logger.Warn("unreadable presence entry", "key", e.Key(), "err", err)
			return
		}
		if old, ok := rm.entries[e.Key()]; ok && old == m {
			return // a heartbeat: nothing to send
		}
		rm.entries[e.Key()] = m
	}
	select {
	case <-rm.watched:
		r.schedule(rm)
	default: // still reading the initial values
	}
}

// schedule sends the room's presence after the debounce, once for all the
// changes until then. rm.mu is held.
func (r *Rooms) schedule(rm *room) {
	if rm.timer == nil {
		rm.timer = time.AfterFunc(r.cfg.Debounce, func() { r.flush(rm) })
	}
}

// flush sends the room's users to its local connections: to all when the
// list changed, else to those that have not had it yet.
func (r *Rooms) flush(rm *room) {
	rm.mu.Lock()
	rm.timer = nil
	frame, err := json.Marshal(map[string]any{"type": "presence", "dashboard": rm.id, "users": usersOf(rm.entries)})
	if err != nil {
		rm.mu.Unlock()
		return
	}
	changed := string(frame) != string(rm.last)
	rm.last = frame
	var to []*Handle
	for h := range rm.local {
		if changed || h.fresh {
			h.fresh = false
			to = append(to, h)
		}
	}
	rm.sendTo(to, frame)
}

// usersOf groups connections by user, in the order they joined.
func usersOf(entries map[string]Member) []User {
	byUser := map[string]*User{}
	since := map[string]int64{}
	changed := map[string]int64{}
	for _, m := range entries {
		u, ok := byUser[m.User]
		if !ok {
			u = &User{User: m.User}
			byUser[m.User] = u
			since[m.User] = m.Since
		}
		u.Tabs++
		since[m.User] = min(since[m.User], m.Since)
		if !ok || m.Changed > changed[m.User] {
			changed[m.User] = m.Changed
			u.Name, u.Role, u.Color, u.Focus, u.Editing = m.Name, m.Role, m.Color, m.Focus, m.Editing
		}
	}
	out := make([]User, 0, len(byUser))
	for _, u := range byUser {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b User) int {
		if d := since[a.User] - since[b.User]; d != 0 {
			return int(max(-1, min(1, d)))
		}
		return strings.Compare(a.User, b.User)
	})
	return out
}

// broadcast sends an activity frame to the room's local connections.
func (rm *room) broadcast(frame []byte) {
	rm.mu.Lock()
	rm.sendTo(slices.Collect(maps.Keys(rm.local)), frame)
}

// Publish sends an event to the room's connections on every node.
func (r *Rooms) Publish(dashboard string, ev Event) error {
	if ev.At == 0 {
		ev.At = time.Now().UnixMilli()
	}
	frame, err := json.Marshal(map[string]any{"type": "activity", "dashboard": dashboard, "event": ev})
	if err != nil {
		return err
	}
	return r.cfg.NC.Publish(EventPrefix+dashboard, frame)
}

// Set changes what the connection is focused on and editing ("" for
// nothing).
func (h *Handle) Set(focus, editing string) error {
	h.mu.Lock()
	if h.left || (h.m.Focus == focus && h.m.Editing == editing) {
		h.mu.Unlock()
		return nil
	}
	h.m.Focus, h.m.Editing, h.m.Changed = focus, editing, time.Now().UnixMilli()
	h.mu.Unlock()
	return h.put()
}

// Member returns the connection's presence as stored.
func (h *Handle) Member() Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m
}

// Dashboard is the room's dashboard.
func (h *Handle) Dashboard() string { return h.room.id }

func (h *Handle) put() error {
	h.io.Lock()
	defer h.io.Unlock()
	h.mu.Lock()
	if h.left {
		h.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(h.m)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(h.rooms.ctx, 5*time.Second)
	defer cancel()
	if _, err := h.rooms.kv.Put(ctx, h.key, b); err != nil {
		return fmt.Errorf("presence %s: %w", h.key, err)
	}
	return nil
}

// Leave takes the connection out of its room, at once on every node. It
// may be called more than once.
func (h *Handle) Leave() {
	h.mu.Lock()
	if h.left {
		h.mu.Unlock()
		return
	}
	h.left = true
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.rooms.ctx), 5*time.Second)
	defer cancel()
	h.io.Lock() // after a put under way, which cannot write again
	err := h.rooms.kv.Delete(ctx, h.key)
	h.io.Unlock()
	if err != nil {
		// The TTL removes it.
		h.rooms.cfg.Logger.Warn("leave room", "key", h.key, "err", err)
	}
	r := h.rooms
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := h.room
	rm.mu.Lock()
	delete(rm.local, h)
	empty := len(rm.local) == 0
	rm.mu.Unlock()
	if empty && r.rooms[rm.id] == rm {
		delete(r.rooms, rm.id)
		rm.close()
	}
}

func (rm *room) close() {
	rm.stop()
	_ = rm.unsub.Unsubscribe()
	rm.mu.Lock()
	if rm.timer != nil {
		rm.timer.Stop()
		rm.timer = nil
	}
	rm.mu.Unlock()
}

// heartbeat writes every local connection's presence again, so that the
// TTL keeps it.
func (r *Rooms) heartbeat() {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		var hs []*Handle
		for _, rm := range r.rooms {
			rm.mu.Lock()
			for h := range rm.local {
				hs = append(hs, h)
			}
			rm.mu.Unlock()
		}
		r.mu.Unlock()
		for _, h := range hs {
			if err := h.put(); err != nil && r.ctx.Err() == nil {
				r.cfg.Logger.Warn("presence heartbeat", "err", err)
			}
		}
	}
}

// Close stops the heartbeat and the watchers. The connections' entries
// stay until their TTL: the connections themselves end separately, and
// each leaves as it does.
func (r *Rooms) Close() {
	r.cancel()
	r.mu.Lock()
	for id, rm := range r.rooms {
		rm.close()
		delete(r.rooms, id)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
