package live

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/telemetry"
)

// fakeStreams serves snapshots of a stream whose offset the test moves.
type fakeStreams struct {
	SnapshotFn func(streamID string) ([]byte, uint64, error)
}

func (f *fakeStreams) Acquire(context.Context, string, map[string]string) (engine.Stream, error) {
	panic("not used")
}
func (f *fakeStreams) Release(string) {}
func (f *fakeStreams) Snapshot(id string) ([]byte, uint64, error) {
	return f.SnapshotFn(id)
}
func (f *fakeStreams) Apply(context.Context, string, chart.Op, engine.Priority) (engine.Stream, uint64, error) {
	panic("not used")
}
func (f *fakeStreams) Since(string, string, uint64) ([]engine.Frame, uint64, bool) {
	return nil, 0, false
}

// fakeBroker hands the test the delivery function of each subscription.
type fakeBroker struct {
	mu       sync.Mutex
	handlers map[string]func(uint64, []byte, bool, int64, bool)
	unsubs   int
}

func (b *fakeBroker) Subscribe(subject string, fn func(uint64, []byte, bool, int64, bool)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers[subject] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.handlers, subject)
		b.unsubs++
	}, nil
}

func (b *fakeBroker) handler(subject string) func(uint64, []byte, bool, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handlers[subject]
}

// testConn is a connection without a socket; no writer ever starts, the
// test takes the queued frames itself.
func testConn(h *Hub, queue int) *conn {
	c := &conn{hub: h}
	c.q = newQueue(queue, queue, h.cfg.Metrics.Conflations, &c.writers)
	c.q.writing = true
	return c
}

func drain(c *conn) []string {
	items, _, _, _ := c.q.take(nil)
	var out []string
	for _, it := range items {
		out = append(out, string(it.data))
	}
	return out
}

// TestViewersGetSnapshotThenEveryLaterOpInOrder publishes ops while
// viewers subscribe at random moments; each viewer must see its snapshot
// and then exactly the ops after it, without gap or repeat.
func TestViewersGetSnapshotThenEveryLaterOpInOrder(t *testing.T) {
	var mu sync.Mutex
	var current uint64
	streams := &fakeStreams{SnapshotFn: func(string) ([]byte, uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		return []byte("snap " + strconv.FormatUint(current, 10)), current, nil
	}}
	broker := &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}
	h := NewHub(HubConfig{Streams: streams, Broker: broker})
	defer h.Close()
	s := engine.Stream{ID: "c", ChartID: "c", Subject: "ash.chart.c._"}

	const ops, viewers = 2000, 20
	first := testConn(h, ops+10)
	if _, err := h.subscribe(first, s, false, nil); err != nil {
		t.Fatal(err)
	}
	deliver := broker.handler(s.Subject)

	conns := make([]*conn, viewers)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint64(1); i <= ops; i++ {
			mu.Lock()
			current = i
			mu.Unlock()
			// Most ops arrive with the next one waiting, so that
			// viewers subscribe while the hub holds ops back.
			deliver(i, []byte("op "+strconv.FormatUint(i, 10)), false, 0, i%7 != 0 && i < ops)
		}
	})
	for v := range conns {
		conns[v] = testConn(h, ops+10)
		wg.Go(func() {
			if _, err := h.subscribe(conns[v], s, false, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for v, c := range append(conns, first) {
		frames := drain(c)
		rest, ok := strings.CutPrefix(frames[0], "snap ")
		snap, err := strconv.ParseUint(rest, 10, 64)
		if !ok || err != nil {
			t.Fatalf("viewer %d: first frame %q is not a snapshot", v, frames[0])
		}
		want := snap + 1
		for _, f := range frames[1:] {
			if f != "op "+strconv.FormatUint(want, 10) {
				t.Fatalf("viewer %d (snapshot %d): got %q, want op %d", v, snap, f, want)
			}
			want++
		}
		if want != ops+1 {
			t.Fatalf("viewer %d: last op %d, want %d", v, want-1, ops)
		}
	}
	for _, c := range append(conns, first) {
		h.unsubscribe(c, s.ID)
	}
	if broker.unsubs != 1 || broker.handler(s.Subject) != nil {
		t.Fatalf("after the last viewer left: %d unsubscribes, handler still set: %v", broker.unsubs, broker.handler(s.Subject) != nil)
	}
}

func TestQueueConflatesOpsAndBoundsControlFrames(t *testing.T) {
	conflations := prometheus.NewCounter(prometheus.CounterOpts{Name: "c"})
	q := newQueue(3, 2, conflations, new(sync.WaitGroup))
	q.writing = true
	for i := uint64(1); i <= 3; i++ {
		q.push(item{data: []byte("a"), stream: "a", offset: i, kind: op})
	}
	q.push(item{data: []byte("reply"), kind: control})
	// The fourth op of a full queue drops the pending ops, keeps the reply
	// and asks for snapshots of the streams it dropped.
	q.push(item{data: []byte("b"), stream: "b", offset: 1, kind: op})
	items, resync, overflow, _ := q.take(nil)
	if overflow || len(items) != 1 || string(items[0].data) != "reply" {
		t.Fatalf("after conflation: items %v, overflow %v; want only the reply", items, overflow)
	}
	if !resync["a"] || !resync["b"] || len(resync) != 2 {
		t.Fatalf("resync = %v, want a and b", resync)
	}
	if n := testutil.ToFloat64(conflations); n != 1 {
		t.Fatalf("conflations = %v", n)
	}
	// Control frames are never dropped: past their limit the connection
	// must go.
	q.push(item{kind: control})
	q.push(item{kind: control})
	if _, _, overflow, _ := q.take(nil); overflow {
		t.Fatal("control frames within the limit overflowed")
	}
	for range 3 {
		q.push(item{kind: control})
	}
	if _, _, overflow, _ := q.take(nil); !overflow {
		t.Fatal("overflow not reported")
	}
}

// BenchmarkFanOut10k delivers one op frame to 10,000 viewers of a stream:
// the same bytes queued to each, with no lock held on a socket.
func BenchmarkFanOut10k(b *testing.B) {
	const viewers = 10_000
	streams := &fakeStreams{SnapshotFn: func(string) ([]byte, uint64, error) { return []byte("snap"), 0, nil }}
	broker := &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}
	h := NewHub(HubConfig{Streams: streams, Broker: broker})
	defer h.Close()
	s := engine.Stream{ID: "c", ChartID: "c", Subject: "ash.chart.c._"}
	conns := make([]*conn, viewers)
	for i := range conns {
		conns[i] = testConn(h, 1<<10)
		if _, err := h.subscribe(conns[i], s, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	deliver := broker.handler(s.Subject)
	frame := []byte(`{"type":"op","stream":"c","chart":"c","epoch":"0123456789ab","offset":1,"ts":1764150000000,"op":{"op":"append","rows":[["2026-11-26T12:00:00Z",42.5]]}}`)
	b.ReportAllocs()
	var off uint64
	for b.Loop() {
		off++
		deliver(off, frame, false, 0, false)
		if off%500 == 0 { // writers would have taken these
			b.StopTimer()
			for _, c := range conns {
				c.q.take(nil)
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/viewers, "ns/delivery")
}

// TestHeldOpsBounds: the hub holds at most half a viewer's op queue back
// (so a viewer keeping up is not conflated by one delivery), and an
// unreadable update (nil frame) ends a run of held ops.
func TestHeldOpsBounds(t *testing.T) {
	streams := &fakeStreams{SnapshotFn: func(string) ([]byte, uint64, error) { return []byte("snap"), 0, nil }}
	broker := &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}
	h := NewHub(HubConfig{Streams: streams, Broker: broker, Metrics: telemetry.Discard(), MaxPendingOps: 4})
	defer h.Close()
	s := engine.Stream{ID: "c", ChartID: "c", Subject: "ash.chart.c._"}
	c := testConn(h, 4)
	if _, err := h.subscribe(c, s, false, nil); err != nil {
		t.Fatal(err)
	}
	drain(c)
	deliver := broker.handler(s.Subject)
	deliver(1, []byte("op 1"), false, 0, true)
	if got := drain(c); len(got) != 0 {
		t.Fatalf("queued %q while the next op waits", got)
	}
	deliver(2, []byte("op 2"), false, 0, true)
	if got := strings.Join(drain(c), ","); got != "op 1,op 2" {
		t.Fatalf("after two held ops (half of 4): queued %q, want op 1,op 2", got)
	}
	deliver(3, []byte("op 3"), false, 0, true)
	deliver(0, nil, false, 0, false)
	if got := strings.Join(drain(c), ","); got != "op 3" {
		t.Fatalf("after an unreadable update ended the run: queued %q, want op 3", got)
	}
	deliver(0, nil, false, 0, false)
	if got := drain(c); len(got) != 0 {
		t.Fatalf("an unreadable update alone queued %q", got)
	}
	if c.q.resync != nil {
		t.Fatal("the viewer was conflated")
	}
	h.unsubscribe(c, s.ID)
}
