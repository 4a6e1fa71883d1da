package live

import (
	"bufio"
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/telemetry"
	"github.com/ashreports/ashreports/internal/websocket"
)

// Streams is the chart engine as the hub uses it.
type Streams interface {
	Acquire(ctx context.Context, chartID string, filters map[string]string) (engine.Stream, error)
	Release(streamID string)
	Snapshot(streamID string) ([]byte, uint64, error)
	Since(streamID, epoch string, offset uint64) ([]engine.Frame, uint64, bool)
	Apply(ctx context.Context, chartID string, op chart.Op, pri engine.Priority) (engine.Stream, uint64, error)
}

// Broker delivers the ops published on a subject, in order, on one
// goroutine per subscription. more reports that the next op of the
// subscription has already arrived: the hub then holds the op back to
// write it together with the ones waiting behind it. A nil frame carries
// no op (one the broker could not read) and only ends such a run.
type Broker interface {
	Subscribe(subject string, fn func(offset uint64, frame []byte, high bool, published int64, more bool)) (func(), error)
}

// HubConfig configures a Hub. Zero values take the defaults below.
type HubConfig struct {
	Streams Streams
	Broker  Broker
	Logger  *slog.Logger
	// Metrics, when nil, are kept but registered nowhere.
	Metrics *telemetry.Metrics
	// MaxPendingOps is how many op frames may wait for one connection
	// before they are conflated into snapshots; 256.
	MaxPendingOps int
	// MaxPendingControl is how many other frames (replies, snapshots) may
	// wait for one connection before it is closed as a slow consumer; 256.
	MaxPendingControl int
	// WriteTimeout is how long one write may block before the connection
	// is closed as a slow consumer; 30s.
	WriteTimeout time.Duration
	// SendBuffer is the kernel send buffer of each connection's socket;
	// 64 KiB. Negative leaves the kernel's autotuning (up to 4 MiB).
	SendBuffer int
	// BatchWindow is how long normal-priority frames may wait to share one
	// WebSocket message; 5ms. Negative turns batching off.
	BatchWindow time.Duration
	// MaxBatchBytes is the size past which a batch is split; 64 KiB.
	MaxBatchBytes int
	// CompressThreshold is the frame size from which frames go compressed
	// to binary viewers; 1 KiB. Negative turns compression off.
	CompressThreshold int
	// PingInterval is how often the server pings a connection; 25s.
	PingInterval time.Duration
	// PingTimeout is how long a ping may wait for its pong; 10s.
	PingTimeout time.Duration
	// MaxSubscriptions per connection; 256.
	MaxSubscriptions int
	// MaxMessageBytes is the largest client message; 1 MiB.
	MaxMessageBytes int64
	// OriginPatterns are the hosts, besides the request's own, from which
	// browsers may connect (path.Match patterns, case-insensitive).
	OriginPatterns []string
	// Authorize decides each subscribe and publish; nil allows all.
	Authorize Authorizer
	// Rooms, when set, lets connections join dashboards' rooms.
	Rooms Rooms
}

// shards is the number of independently locked parts of the topic
// registry, so that subscribe storms on some streams do not stall
// deliveries to others.
const shards = 64

// Hub accepts live connections and fans updates out to them.
type Hub struct {
	cfg    HubConfig
	ctx    context.Context
	cancel context.CancelFunc
	conns  sync.WaitGroup
	clocks sync.WaitGroup
	batch  *clock // the batching window, shared by all writers
	idle   *clock // ends writers with nothing to do, shared by all
	seed   maphash.Seed

	liveMu    sync.Mutex
	live      map[*conn]struct{} // open connections, for the watchdog
	sessions  map[string]int     // open connections per browser session
	connCount atomic.Uint64      // connections so far, to spread ping slots

	mu     sync.Mutex // guards closed
	closed bool
	shard  [shards]struct {
		mu     sync.Mutex
		topics map[string]*topic
	}
}

// topic is the set of this node's viewers of one stream.
type topic struct {
	id    string
	unsub func()
	refs  int // guarded by the shard's mu

	mu sync.RWMutex
	// viewers maps each viewer to the offset it holds when it joined; it
	// receives only ops past it.
	viewers map[*conn]uint64
	// snapZ is the compressed form of the snapshot at offset snapAt.
	snapZ  *compressed
	snapAt uint64

	// held are ops received while more were waiting in the broker,
	// delivered together (see Broker); only the subscription's goroutine
	// uses it.
	held []item
}

// snapshotItem returns the queue item of a snapshot frame, sharing its
// compressed form with the other viewers of the same snapshot. t.mu must
// be held for writing.
func (t *topic) snapshotItem(frame []byte, offset uint64, threshold int) item {
	it := item{data: frame, stream: t.id, offset: offset, kind: snapshot}
	if threshold < 0 || len(frame) < threshold {
		return it
	}
	if t.snapZ == nil || t.snapAt != offset {
		t.snapZ, t.snapAt = &compressed{}, offset
	}
	it.z = t.snapZ
	return it
}

// NewHub returns a hub; Close ends its connections.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxPendingOps, 256)
	def(&cfg.MaxPendingControl, 256)
	def(&cfg.MaxBatchBytes, 64<<10)
	def(&cfg.CompressThreshold, 1<<10)
	def(&cfg.MaxSubscriptions, 256)
	defDur(&cfg.WriteTimeout, 30*time.Second)
	def(&cfg.SendBuffer, 64<<10)
	defDur(&cfg.BatchWindow, 5*time.Millisecond)
	defDur(&cfg.PingInterval, 25*time.Second)
	defDur(&cfg.PingTimeout, 10*time.Second)
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.Metrics == nil {
		cfg.Metrics = telemetry.Discard()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{cfg: cfg, ctx: ctx, cancel: cancel, batch: newClock(), idle: newClock(), seed: maphash.MakeSeed(), live: map[*conn]struct{}{}, sessions: map[string]int{}}
	for i := range h.shard {
		h.shard[i].topics = map[string]*topic{}
	}
	if cfg.BatchWindow > 0 {
		h.clocks.Go(func() { h.batch.run(cfg.BatchWindow, ctx.Done()) })
	}
	h.clocks.Go(func() { h.idle.run(time.Second, ctx.Done()) })
	h.clocks.Go(h.watchLoop)
	return h
}

// watchLoop is the one timer for all connections: every tick it drops
// connections whose write has blocked past WriteTimeout or whose ping went
// unanswered past PingTimeout, and each second it asks the connections of
// one ping slot for a ping, so that every connection is pinged each
// PingInterval, spread over it rather than all at once.
func (h *Hub) watchLoop() {
	t := time.NewTicker(h.watchTick())
	defer t.Stop()
	var conns []*conn
	slots := h.pingSlots()
	perSecond := int(time.Second / h.watchTick())
	for tick := 0; ; tick++ {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		h.liveMu.Lock()
		conns = conns[:0]
		for c := range h.live {
			conns = append(conns, c)
		}
		h.liveMu.Unlock()
		now := time.Now().UnixNano()
		for _, c := range conns {
			c.checkStalled(now)
			if tick%perSecond == 0 && int(c.pingSlot) == (tick/perSecond)%slots {
				c.ping()
			}
		}
		clear(conns)
	}
}

// watchTick is the watchdog's period: a quarter of the ping timeout, at
// most a second, so that an unanswered ping is noticed soon after its
// timeout.
func (h *Hub) watchTick() time.Duration {
	return min(time.Second, max(h.cfg.PingTimeout/4, 10*time.Millisecond))
}

// pingSlots is the number of one-second slots in a ping interval.
func (h *Hub) pingSlots() int {
	return max(1, int(h.cfg.PingInterval/time.Second))
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
	var binary bool
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "binary":
		binary = true
	default:
		http.Error(w, fmt.Sprintf("format %q is not json or binary", f), http.StatusBadRequest)
		h.conns.Done()
		return
	}
	who := subjectFrom(r.Context())
	if !h.admit(w, who) {
		h.conns.Done()
		return
	}
	nc, br, err := websocket.Accept(w, r, websocket.AcceptOptions{Origins: h.cfg.OriginPatterns, ReadBuffer: readBufferSize})
	if err != nil {
		// accept has written the HTTP error.
		h.cfg.Logger.Debug("websocket accept", "err", err)
		h.leave(who)
		h.conns.Done()
		return
	}
	// Linux grows a socket's send buffer up to 4 MiB for a reader that
	// lags: frames there are out of reach of conflation, and a viewer
	// that reads again would first wade through seconds of stale ops.
	if tc, ok := nc.(interface{ SetWriteBuffer(int) error }); ok && h.cfg.SendBuffer > 0 {
		_ = tc.SetWriteBuffer(h.cfg.SendBuffer)
	}
	// The connection runs on a new goroutine and the handler returns: the
	// handler's stack grew in the HTTP handshake, and an idle connection
	// should hold one small stack.
	go h.serve(nc, br, who, binary)
}

// serve runs a connection whose handshake is done, counted in h.conns
// and admitted, until it ends.
func (h *Hub) serve(nc net.Conn, br *bufio.Reader, who access.Subject, binary bool) {
	defer h.conns.Done()
	c := newConn(h, nc, br)
	c.who = who
	c.binary = binary
	c.pingSlot = int32(h.connCount.Add(1) % uint64(h.pingSlots()))
	h.cfg.Metrics.Connections.Inc()
	defer h.cfg.Metrics.Connections.Dec()
	h.liveMu.Lock()
	h.live[c] = struct{}{}
	h.liveMu.Unlock()
	if h.ctx.Err() != nil {
		// Close began before this connection was registered.
		go c.close(websocket.StatusGoingAway, "server shutting down")
	}
	c.run()
	h.liveMu.Lock()
	delete(h.live, c)
	h.liveMu.Unlock()
	h.leave(who)
}

// readBufferSize is a connection's read buffer. Client messages are small
// and rare; net/http's 4 KiB would be kept for each idle viewer.
const readBufferSize = 256

// Close closes every connection with "going away" and waits for them to
// end. The hub accepts no connection afterwards.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.liveMu.Lock()
	conns := make([]*conn, 0, len(h.live))
	for c := range h.live {
		conns = append(conns, c)
	}
	h.liveMu.Unlock()
	var closers sync.WaitGroup
	for _, c := range conns {
		closers.Go(func() { c.close(websocket.StatusGoingAway, "server shutting down") })
	}
	closers.Wait()
	h.conns.Wait()
	h.clocks.Wait()
}

func (h *Hub) shardOf(streamID string) *struct {
	mu     sync.Mutex
	topics map[string]*topic
} {
	return &h.shard[maphash.String(h.seed, streamID)%shards]
}

// resume is where a reconnecting viewer left a stream.
type resume struct {
	epoch  string
	offset uint64
}

// subscribe starts delivery of a stream to c: the ops after from when the
// engine still has them all (it reports true), else a snapshot. Then c
// gets every later op. Subscribing again to the same stream restarts its
// delivery the same way.
func (h *Hub) subscribe(c *conn, s engine.Stream, again bool, from *resume) (resumed bool, err error) {
	sh := h.shardOf(s.ID)
	sh.mu.Lock()
	t, ok := sh.topics[s.ID]
	if !ok {
		t = &topic{id: s.ID, viewers: map[*conn]uint64{}}
		unsub, err := h.cfg.Broker.Subscribe(s.Subject, func(offset uint64, frame []byte, high bool, published int64, more bool) {
			h.received(t, offset, frame, high, published, more)
		})
		if err != nil {
			sh.mu.Unlock()
			return false, err
		}
		t.unsub = unsub
		sh.topics[s.ID] = t
	}
	if !again {
		t.refs++
	}
	sh.mu.Unlock()

	// Frames are queued under the topic's lock, so that none of the
	// stream's later ops is queued before them, and written after it.
	flush := false
	defer func() {
		if flush {
			c.flush()
		}
	}()
	t.mu.Lock()
	if from != nil {
		if frames, cur, ok := h.cfg.Streams.Since(s.ID, from.epoch, from.offset); ok {
			flush = c.enqueue(item{stream: s.ID, offset: from.offset, kind: start}) || flush
			for _, f := range frames {
				it := item{data: f.Data, stream: s.ID, offset: f.Offset, kind: op, high: true}
				if h.cfg.CompressThreshold >= 0 && len(f.Data) >= h.cfg.CompressThreshold {
					it.z = &compressed{}
				}
				flush = c.enqueue(it) || flush
			}
			t.viewers[c] = cur
			t.mu.Unlock()
			h.cfg.Metrics.Resumes.WithLabelValues("ops").Inc()
			return true, nil
		}
		h.cfg.Metrics.Resumes.WithLabelValues("snapshot").Inc()
	}
	frame, off, err := h.cfg.Streams.Snapshot(s.ID)
	if err == nil {
		flush = c.enqueue(t.snapshotItem(frame, off, h.cfg.CompressThreshold)) || flush
		t.viewers[c] = off
	}
	t.mu.Unlock()
	if err != nil && !again {
		h.unsubscribe(c, s.ID)
	}
	return false, err
}

// resnapshot gives c a fresh snapshot of a stream whose pending ops were
// conflated, and moves its place in the stream to the snapshot's offset.
// ok is false when c no longer views the stream.
func (h *Hub) resnapshot(c *conn, streamID string) (it item, ok bool) {
	sh := h.shardOf(streamID)
	sh.mu.Lock()
	t := sh.topics[streamID]
	sh.mu.Unlock()
	if t == nil {
		return item{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.viewers[c]; !ok {
		return item{}, false
	}
	frame, offset, err := h.cfg.Streams.Snapshot(streamID)
	if err != nil {
		return item{}, false
	}
	t.viewers[c] = offset
	return t.snapshotItem(frame, offset, h.cfg.CompressThreshold), true
}

// unsubscribe removes c from the stream's viewers; the last viewer on
// this node ends the broker subscription.
func (h *Hub) unsubscribe(c *conn, streamID string) {
	sh := h.shardOf(streamID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t, ok := sh.topics[streamID]
	if !ok {
		return
	}
	t.mu.Lock()
	delete(t.viewers, c)
	t.mu.Unlock()
	t.refs--
	if t.refs == 0 {
		t.unsub()
		delete(sh.topics, streamID)
	}
}

// maxHeld is the most ops a topic holds back while more are waiting.
const maxHeld = 64

// received takes an update of t from the broker, on the subscription's
// goroutine. While the broker already holds the next one (more), the op
// is held back, so that the ops delivered together leave in one write: a
// server that falls behind makes fewer, larger writes and catches up,
// instead of one system call per op and viewer exactly when it has the
// least time. An op is never held for an update that has not arrived, and
// at most half a viewer's op queue is held, so that a viewer keeping up
// is never conflated by one delivery. A nil frame (an update the broker
// could not read) only ends the run that more announced.
func (h *Hub) received(t *topic, offset uint64, frame []byte, high bool, published int64, more bool) {
	if frame != nil {
		var z *compressed
		if h.cfg.CompressThreshold >= 0 && len(frame) >= h.cfg.CompressThreshold {
			z = &compressed{} // made by the first binary viewer's writer
		}
		t.held = append(t.held, item{data: frame, stream: t.id, offset: offset, kind: op, high: high, at: published, z: z})
	}
	if more && len(t.held) < min(maxHeld, max(1, h.cfg.MaxPendingOps/2)) {
		return
	}
	if len(t.held) > 0 {
		t.deliver(t.held)
		clear(t.held)
		t.held = t.held[:0]
	}
}

// deliver queues op frames, in order, to every viewer whose place in the
// stream predates them, then writes them to those with no writer running
// (see conn.enqueue): ops delivered together leave in one write. It runs
// on the broker subscription's goroutine and never waits for a socket:
// the same bytes go to every viewer.
func (t *topic) deliver(items []item) {
	flush := flushLists.Get().(*[]*conn)
	t.mu.RLock()
	for c, from := range t.viewers {
		must := false
		for _, it := range items {
			if it.offset > from && c.enqueue(it) {
				must = true
			}
		}
		if must {
			*flush = append(*flush, c)
		}
	}
	t.mu.RUnlock()
	// Writing to a large topic's viewers is shared with other goroutines,
	// so that one stream's fan-out can use every core.
	conns := *flush
	for len(conns) > flushChunk {
		chunk := slices.Clone(conns[len(conns)-flushChunk:])
		conns = conns[:len(conns)-flushChunk]
		go flushAll(chunk)
	}
	flushAll(conns)
	clear(*flush)
	*flush = (*flush)[:0]
	flushLists.Put(flush)
}

// flushChunk is how many viewers one goroutine writes an op to.
const flushChunk = 256

// flushLists are deliver's lists of connections to flush.
var flushLists = sync.Pool{New: func() any { return new([]*conn) }}

func flushAll(conns []*conn) {
	for _, c := range conns {
		c.flush()
	}
}
