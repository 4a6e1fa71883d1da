package live

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/engine"
)

// Streams is the chart engine as the hub uses it.
type Streams interface {
	Acquire(ctx context.Context, chartID string, filters map[string]string) (engine.Stream, error)
	Release(streamID string)
	Snapshot(streamID string) ([]byte, uint64, error)
	Apply(ctx context.Context, chartID string, op chart.Op) (engine.Stream, uint64, error)
}

// Broker delivers the ops published on a subject.
type Broker interface {
	Subscribe(subject string, fn func(offset uint64, frame []byte)) (func(), error)
}

// HubConfig configures a Hub. Zero values take the defaults below.
type HubConfig struct {
	Streams Streams
	Broker  Broker
	Logger  *slog.Logger
	// QueueSize is how many frames may wait for one connection; 1024.
	QueueSize int
	// PingInterval is how often the server pings a connection; 25s.
	PingInterval time.Duration
	// PingTimeout is how long a ping may wait for its pong; 10s.
	PingTimeout time.Duration
	// MaxSubscriptions per connection; 256.
	MaxSubscriptions int
	// MaxMessageBytes is the largest client message; 1 MiB.
	MaxMessageBytes int64
	// OriginPatterns are the hosts, besides the request's own, from which
	// browsers may connect (path.Match patterns, as in
	// websocket.AcceptOptions).
	OriginPatterns []string
}

// Hub accepts live connections and fans updates out to them.
type Hub struct {
	cfg    HubConfig
	ctx    context.Context
	cancel context.CancelFunc
	conns  sync.WaitGroup

	mu     sync.Mutex
	topics map[string]*topic
	closed bool
}

// topic is the set of this node's viewers of one stream.
type topic struct {
	id    string
	unsub func()
	refs  int // guarded by Hub.mu

	mu sync.RWMutex
	// viewers maps each viewer to the offset of the snapshot it got; it
	// receives only ops past it.
	viewers map[*conn]uint64
}

// NewHub returns a hub; Close ends its connections.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 1024
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = 10 * time.Second
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = 256
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{cfg: cfg, ctx: ctx, cancel: cancel, topics: map[string]*topic{}}
}

// ServeHTTP upgrades the request to a live connection and serves it until
// either side closes it.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	h.conns.Add(1)
	h.mu.Unlock()
	defer h.conns.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		// Accept has written the HTTP error.
		h.cfg.Logger.Debug("websocket accept", "err", err)
		return
	}
	// Messages up to 16 times the limit are read and refused with a
	// too_large reply; larger ones close the connection.
	ws.SetReadLimit(16 * h.cfg.MaxMessageBytes)
	c := newConn(h, ws)
	c.run(h.ctx)
}

// Close closes every connection with "going away" and waits for them to
// end. The hub accepts no connection afterwards.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.conns.Wait()
}

// subscribe queues the stream's snapshot to c and registers c for the
// stream's later ops. Subscribing again to the same stream re-sends the
// snapshot.
func (h *Hub) subscribe(c *conn, s engine.Stream, again bool) error {
	h.mu.Lock()
	t, ok := h.topics[s.ID]
	if !ok {
		t = &topic{id: s.ID, viewers: map[*conn]uint64{}}
		unsub, err := h.cfg.Broker.Subscribe(s.Subject, t.deliver)
		if err != nil {
			h.mu.Unlock()
			return err
		}
		t.unsub = unsub
		h.topics[s.ID] = t
	}
	if !again {
		t.refs++
	}
	h.mu.Unlock()

	t.mu.Lock()
	frame, off, err := h.cfg.Streams.Snapshot(s.ID)
	if err == nil {
		c.send(frame)
		t.viewers[c] = off
	}
	t.mu.Unlock()
	if err != nil && !again {
		h.unsubscribe(c, s.ID)
	}
	return err
}

// unsubscribe removes c from the stream's viewers; the last viewer on
// this node ends the broker subscription.
func (h *Hub) unsubscribe(c *conn, streamID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.topics[streamID]
	if !ok {
		return
	}
	t.mu.Lock()
	delete(t.viewers, c)
	t.mu.Unlock()
	t.refs--
	if t.refs == 0 {
		t.unsub()
		delete(h.topics, streamID)
	}
}

// deliver queues an op frame to every viewer whose snapshot predates it.
// It runs on the broker subscription's goroutine and never blocks.
func (t *topic) deliver(offset uint64, frame []byte) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for c, from := range t.viewers {
		if offset > from {
			c.send(frame)
		}
	}
}
