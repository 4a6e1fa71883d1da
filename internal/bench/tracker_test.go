package bench

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ashreports/ashreports/chart"
)

const testConfig = `{"type":"line","title":"t","encoding":{"x":"seq","y":"ts"},"key":["seq"],"retention":3}`

// snapFrame is a snapshot of chart c at offset off holding rows seq
// first … last (ts = 1000·seq).
func snapFrame(epoch string, off uint64, first, last int) string {
	var rows []string
	for s := first; s <= last && first > 0; s++ {
		rows = append(rows, fmt.Sprintf("[%d,%d]", s, 1000*s))
	}
	return fmt.Sprintf(`{"type":"snapshot","stream":"c","chart":"c","epoch":%q,"offset":%d,"state":{"config":%s,"data":{"columns":[{"name":"seq","type":"number"},{"name":"ts","type":"number"}],"rows":[%s]}}}`,
		epoch, off, testConfig, strings.Join(rows, ","))
}

// opFrame appends row [seq, 1000·seq] at offset off.
func opFrame(epoch string, off uint64, seq int) string {
	return fmt.Sprintf(`{"type":"op","stream":"c","chart":"c","epoch":%q,"offset":%d,"ts":1,"op":{"op":"append","rows":[[%d,%d]]}}`,
		epoch, off, seq, 1000*seq)
}

func replyFrame(ref string) string {
	return fmt.Sprintf(`{"type":"reply","ref":%q,"ok":true,"stream":"c"}`, ref)
}

const hello = `{"type":"hello","v":1,"conn":"abc"}`

// wantState is the state holding the rows of seqs.
func wantState(t *testing.T, seqs []int) chart.State {
	t.Helper()
	var s chart.State
	var rows []string
	for _, q := range seqs {
		rows = append(rows, fmt.Sprintf("[%d,%d]", q, 1000*q))
	}
	frame := fmt.Sprintf(`{"config":%s,"data":{"columns":[{"name":"seq","type":"number"},{"name":"ts","type":"number"}],"rows":[%s]}}`, testConfig, strings.Join(rows, ","))
	if err := jsonUnmarshal([]byte(frame), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	t       *testing.T
	tr      *tracker
	refused *atomic.Bool
	lat     *Histogram
	now     int64
}

func newFixture(t *testing.T, cache bool) *fixture {
	f := &fixture{t: t, refused: new(atomic.Bool), lat: new(Histogram), now: 1_000_000}
	f.tr = newTracker("c", f.lat, f.refused)
	if cache {
		f.tr.ops = new(opCache)
	}
	return f
}

// feed hands the tracker one frame and checks its answer.
func (f *fixture) feed(line string, want action) {
	f.t.Helper()
	if got := f.tr.handle([]byte(line), f.now); got != want {
		f.t.Fatalf("handle(%.80s) = %d, want %d (last error: %s)", line, got, want, f.tr.stats.LastError)
	}
}

// subscribe expects a subscribe message and returns it.
func (f *fixture) subscribe() string {
	return string(f.tr.subscribeMsg())
}

func (f *fixture) wantStats(want trackerStats) {
	f.t.Helper()
	got := f.tr.stats
	got.LastError, got.ProtocolError = "", ""
	if d := cmp.Diff(want, got); d != "" {
		f.t.Errorf("stats (-want +got):\n%s", d)
	}
}

func (f *fixture) wantHeld(off uint64, first, last int) {
	f.t.Helper()
	var seqs []int
	for q := first; q <= last; q++ {
		seqs = append(seqs, q)
	}
	f.wantHeldSeqs(off, seqs...)
}

func (f *fixture) wantHeldSeqs(off uint64, seqs ...int) {
	f.t.Helper()
	if f.tr.off != off || f.tr.offset.Load() != off {
		f.t.Errorf("held offset %d (published %d), want %d", f.tr.off, f.tr.offset.Load(), off)
	}
	if d := cmp.Diff(wantState(f.t, seqs), f.tr.state, cmpopts.EquateEmpty()); d != "" {
		f.t.Errorf("state (-want +got):\n%s", d)
	}
}

// start connects and subscribes: hello, subscribe, snapshot at off, reply.
func (f *fixture) start(epoch string, off uint64, first, last int) {
	f.t.Helper()
	f.tr.connected(f.now)
	f.feed(hello, actSubscribe)
	if msg := f.subscribe(); msg != `{"type":"subscribe","ref":"s1","chart":"c"}` {
		f.t.Fatalf("subscribe message %s", msg)
	}
	f.feed(snapFrame(epoch, off, first, last), actNone)
	if f.tr.settled.Load() {
		f.t.Error("settled before the reply")
	}
	f.feed(replyFrame("s1"), actNone)
	if !f.tr.subbed || !f.tr.settled.Load() {
		f.t.Fatal("not subscribed after the reply")
	}
}

func TestTrackerSnapshotThenOps(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			f := newFixture(t, cache)
			f.start("e1", 5, 1, 2)
			f.now = 9000
			f.feed(opFrame("e1", 6, 3), actNone)
			f.feed(opFrame("e1", 7, 4), actNone) // retention 3 drops row 1
			f.wantHeld(7, 2, 4)
			f.wantStats(trackerStats{Received: 2})
			if f.tr.base != 5 {
				t.Errorf("base = %d, want the first snapshot's 5", f.tr.base)
			}
			// Latency: received at 9000 ns, published at 1000·seq ns.
			if f.lat.Count() != 2 || f.lat.Max() != 9000-3000 {
				t.Errorf("latency: %d values, max %d; want 2 and 6000", f.lat.Count(), f.lat.Max())
			}
		})
	}
}

func TestTrackerGapResyncs(t *testing.T) {
	f := newFixture(t, false)
	f.start("e1", 5, 1, 2)
	f.feed(opFrame("e1", 6, 3), actNone)
	f.feed(opFrame("e1", 8, 5), actSubscribe) // 7 is missing
	if msg := f.subscribe(); msg != `{"type":"subscribe","ref":"s2","chart":"c"}` {
		t.Fatalf("resync message %s, want a plain subscribe", msg)
	}
	f.feed(opFrame("e1", 9, 6), actNone) // ignored: the snapshot is coming
	f.feed(snapFrame("e1", 9, 4, 6), actNone)
	f.feed(opFrame("e1", 10, 7), actNone) // may come before the reply
	f.feed(replyFrame("s2"), actNone)
	f.wantHeld(10, 5, 7)
	f.wantStats(trackerStats{Received: 2, Gaps: 1, Resyncs: 1, Skipped: 3})
}

func TestTrackerDuplicateAndEpoch(t *testing.T) {
	f := newFixture(t, true)
	f.start("e1", 5, 1, 2)
	f.feed(opFrame("e1", 6, 3), actNone)
	f.feed(opFrame("e1", 6, 3), actNone) // duplicate: ignored
	f.feed(opFrame("e1", 5, 2), actNone) // older: ignored
	f.wantHeld(6, 1, 3)
	f.feed(opFrame("e2", 7, 4), actSubscribe) // another epoch
	f.subscribe()
	f.feed(snapFrame("e2", 1, 9, 9), actNone)
	f.feed(replyFrame("s2"), actNone)
	f.wantHeld(1, 9, 9)
	f.wantStats(trackerStats{Received: 1, Duplicates: 2, EpochMismatches: 1, EpochChanges: 1, Resyncs: 1})
}

func TestTrackerConflationSnapshot(t *testing.T) {
	f := newFixture(t, false)
	f.start("e1", 5, 1, 2)
	f.feed(opFrame("e1", 6, 3), actNone)
	// A slow viewer's pending ops were dropped: the server sends a fresh
	// snapshot of the stream it holds.
	f.feed(snapFrame("e1", 20, 15, 17), actNone)
	f.feed(opFrame("e1", 21, 18), actNone)
	f.wantHeld(21, 16, 18)
	f.wantStats(trackerStats{Received: 2, Conflations: 1, ConflationSkips: 14, Skipped: 14})
	if !f.tr.settled.Load() {
		t.Error("a conflation snapshot unsettled the viewer")
	}
}

func TestTrackerResume(t *testing.T) {
	f := newFixture(t, false)
	f.start("e1", 5, 1, 2)
	f.feed(opFrame("e1", 6, 3), actNone)
	// The connection is lost; a new one resumes from offset 6.
	f.now = 7000
	f.tr.connected(f.now)
	f.feed(hello, actSubscribe)
	if msg := f.subscribe(); msg != `{"type":"subscribe","ref":"s2","chart":"c","offset":6,"epoch":"e1"}` {
		t.Fatalf("resume message %s", msg)
	}
	f.feed(opFrame("e1", 7, 4), actNone) // missed, published at 4000 < 7000: catch-up
	f.feed(opFrame("e1", 8, 5), actNone) // missed
	f.feed(opFrame("e1", 9, 7), actNone) // published at 7000, as the viewer resubscribed: live
	f.feed(`{"type":"reply","ref":"s2","ok":true,"stream":"c","resumed":true}`, actNone)
	f.wantHeldSeqs(9, 4, 5, 7)
	f.wantStats(trackerStats{Received: 4, Catchup: 2, Resumed: 1})
	if f.lat.Count() != 2 {
		t.Errorf("%d latencies recorded, want 2 (catch-up ops are not latency)", f.lat.Count())
	}
}

func TestTrackerResumeAnsweredBySnapshot(t *testing.T) {
	f := newFixture(t, false)
	f.start("e1", 5, 1, 2)
	f.tr.connected(f.now)
	f.feed(hello, actSubscribe)
	f.subscribe()
	f.feed(snapFrame("e1", 30, 28, 30), actNone) // the missed ops were gone
	f.feed(`{"type":"reply","ref":"s2","ok":true,"stream":"c","resumed":false}`, actNone)
	f.wantHeld(30, 28, 30)
	f.wantStats(trackerStats{SnapshotRecov: 1, Skipped: 25})
}

func TestTrackerResumeRefused(t *testing.T) {
	f := newFixture(t, false)
	f.start("e1", 5, 1, 2)
	f.tr.connected(f.now)
	f.feed(hello, actSubscribe)
	f.subscribe()
	// A server without resume refuses the unknown field.
	f.feed(`{"type":"reply","ref":"s2","ok":false,"error":{"code":"invalid","message":"malformed message: unknown field","field":"offset"}}`, actSubscribe)
	if !f.refused.Load() {
		t.Fatal("resume refusal not noted")
	}
	if msg := f.subscribe(); msg != `{"type":"subscribe","ref":"s3","chart":"c"}` {
		t.Fatalf("fallback message %s, want a plain subscribe", msg)
	}
	f.feed(snapFrame("e1", 7, 5, 7), actNone)
	f.feed(replyFrame("s3"), actNone)
	f.wantHeld(7, 5, 7)
	f.wantStats(trackerStats{SnapshotRecov: 1, Skipped: 2})
}

func TestTrackerGivesUp(t *testing.T) {
	t.Run("unknown protocol version", func(t *testing.T) {
		f := newFixture(t, false)
		f.tr.connected(0)
		f.feed(`{"type":"hello","v":2}`, actClose)
	})
	t.Run("no such chart", func(t *testing.T) {
		f := newFixture(t, false)
		f.tr.connected(0)
		f.feed(hello, actSubscribe)
		f.subscribe()
		f.feed(`{"type":"reply","ref":"s1","ok":false,"error":{"code":"not_found","message":"no chart \"c\""}}`, actClose)
		f.wantStats(trackerStats{SubscribeErrors: 1})
	})
	t.Run("op before any snapshot", func(t *testing.T) {
		f := newFixture(t, false)
		f.tr.connected(0)
		f.feed(opFrame("e1", 1, 1), actNone)
		f.wantStats(trackerStats{ProtocolErrors: 1})
		if pe := f.tr.stats.ProtocolError; !strings.Contains(pe, "before any snapshot") {
			t.Errorf("first protocol error %q", pe)
		}
	})
}

func TestTrackerIgnoresOtherFrames(t *testing.T) {
	f := newFixture(t, false)
	f.start("e1", 5, 1, 2)
	f.feed(`{"type":"presence","viewers":3}`, actNone)
	f.feed(`{"type":"op","stream":"other","chart":"other","epoch":"x","offset":99,"op":{"op":"append","rows":[[1,1]]}}`, actNone)
	f.feed(`{"type":"reply","ref":"p1","ok":true}`, actNone)
	f.feed("not json", actNone)
	f.wantHeld(5, 1, 2)
	f.wantStats(trackerStats{DecodeErrors: 1})
}

func TestSplitFrames(t *testing.T) {
	tests := []struct {
		msg  string
		want []string
	}{
		{`{"a":1}`, []string{`{"a":1}`}},
		{"{\"a\":1}\n{\"b\":2}\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
		{"{\"a\":1}\n", []string{`{"a":1}`}},
		{"\n\n{\"a\":1}\r\n\n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}},
		{"", nil},
	}
	for _, tt := range tests {
		var got []string
		splitFrames([]byte(tt.msg), func(line []byte) bool {
			got = append(got, string(line))
			return true
		})
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("splitFrames(%q) (-want +got):\n%s", tt.msg, d)
		}
	}
	n := 0
	splitFrames([]byte("a\nb\nc"), func([]byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("splitFrames went on after false: %d calls", n)
	}
}

// A batched message, as the server may send after a subscribe: the
// snapshot, ops and the reply in one WebSocket message.
func TestTrackerBatchedMessage(t *testing.T) {
	f := newFixture(t, true)
	f.tr.connected(0)
	f.feed(hello, actSubscribe)
	f.subscribe()
	msg := strings.Join([]string{snapFrame("e1", 2, 1, 2), opFrame("e1", 3, 3), replyFrame("s1"), opFrame("e1", 4, 4)}, "\n")
	splitFrames([]byte(msg), func(line []byte) bool {
		if a := f.tr.handle(line, 0); a != actNone {
			t.Fatalf("handle(%s) = %d", line, a)
		}
		return true
	})
	f.wantHeld(4, 2, 4)
	f.wantStats(trackerStats{Received: 2})
}

func TestOpCacheSharesParsesNotOps(t *testing.T) {
	c := new(opCache)
	raw := []byte(`{"op":"append","rows":[[1,2]]}`)
	a, err := c.parse("e", 7, raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.parse("e", 7, raw) // from the cache
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Fatalf("cached op differs (-parsed +cached):\n%s", d)
	}
	a.Rows[0][0] = "changed"
	if c2, _ := c.parse("e", 7, raw); c2.Rows[0][0] != 1.0 {
		t.Errorf("changing a returned op changed the cache: %v", c2.Rows)
	}
	// Other bytes at the same offset are parsed, not taken from the cache.
	other, err := c.parse("e", 7, []byte(`{"op":"append","rows":[[3,4]]}`))
	if err != nil || other.Rows[0][0] != 3.0 {
		t.Errorf("parse of other bytes = %v, %v", other.Rows, err)
	}
	if _, err := c.parse("e", 8, []byte(`{"op":"nope"}`)); err == nil {
		t.Error("a bad op parsed")
	}
	for _, op := range []string{
		`{"op":"replace","data":{"columns":[{"name":"a","type":"number"}],"rows":[[1]]}}`,
		`{"op":"remove","keys":[[1]]}`,
		`{"op":"config","config":{"type":"bar","title":"t","encoding":{"x":"a","y":"a"},"colors":["#fff"],"key":["a"]}}`,
	} {
		parsed, err := chart.ParseOp([]byte(op))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(parsed, cloneOp(parsed)); d != "" {
			t.Errorf("cloneOp(%s) differs:\n%s", op, d)
		}
	}
}
