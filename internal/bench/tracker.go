package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/ashreports/ashreports/chart"
)

// action is what the connection must do after a frame.
type action uint8

const (
	actNone      action = iota
	actSubscribe        // send t.subscribeMsg()
	actClose            // the server broke the protocol or refused the subscription: give up
)

// frame is any server frame (docs/protocol.md); which fields are set
// depends on Type. One frame value is reused for every line a viewer
// reads: Op keeps its backing array between frames.
type frame struct {
	Type    string          `json:"type"`
	V       int             `json:"v"`
	Ref     string          `json:"ref"`
	OK      bool            `json:"ok"`
	Resumed *bool           `json:"resumed"`
	Stream  string          `json:"stream"`
	Epoch   string          `json:"epoch"`
	Offset  uint64          `json:"offset"`
	Op      json.RawMessage `json:"op"`
	State   *chart.State    `json:"state"`
	Error   *frameError     `json:"error"`
}

type frameError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (f *frame) reset() {
	op := f.Op[:0]
	*f = frame{Op: op}
}

// tracker is one viewer's view of its stream: the chart state it holds,
// built from the snapshot and every op after it with chart.State.Apply, and
// the counts the report adds up. It does no I/O: the connection feeds it
// every line it reads and does what it answers. One goroutine uses it;
// offset and settled may be read by others.
type tracker struct {
	chart string
	// resumeRefused is shared by all viewers: set once the server refused
	// the offset and epoch fields of subscribe.
	resumeRefused *atomic.Bool
	lat           *Histogram // latencies of ops published after the viewer (re)subscribed
	tl            *timeline  // the same latencies by second of the run; nil: not kept
	spread        int        // varies the spare room of the held rows by viewer (see newState)
	ops           *opCache   // shared by the viewers of the chart; nil: parse every op

	// Held stream.
	have   bool // a snapshot was received
	epoch  string
	off    uint64
	state  chart.State
	tsCol  int    // index of the ts column, -1 when there is none
	base   uint64 // offset of the first snapshot
	fresh  bool   // hello seen on the current connection
	subbed bool   // the first subscription got its reply

	// The outstanding subscribe, if any.
	pendingRef    string
	pendingResume bool  // it carried offset and epoch
	pendingSnap   bool  // its snapshot arrived
	recovering    bool  // it follows a lost connection
	catchupBefore int64 // ops published before this time (Unix ns) are catch-up, not latency
	refs          int

	// Published for the settle wait.
	offset  atomic.Uint64
	settled atomic.Bool // no subscribe outstanding

	f frame

	stats trackerStats
}

// trackerStats are one viewer's counts.
type trackerStats struct {
	Received        uint64 // ops applied
	Skipped         uint64 // ops a later snapshot of the same epoch jumped over
	Catchup         uint64 // ops applied that were published before the viewer resubscribed
	Gaps            uint64
	Duplicates      uint64
	EpochMismatches uint64
	EpochChanges    uint64
	ApplyErrors     uint64
	DecodeErrors    uint64
	SubscribeErrors uint64
	ProtocolErrors  uint64
	Conflations     uint64 // snapshots of a held stream that no subscribe asked for
	ConflationSkips uint64 // ops those snapshots jumped over
	Resumed         uint64 // recoveries where the server sent the missed ops
	SnapshotRecov   uint64 // recoveries where it sent a snapshot
	Resyncs         uint64 // fresh snapshots asked for after a gap or an error
	LastError       string
	ProtocolError   string // the first protocol error
}

func newTracker(chartID string, lat *Histogram, resumeRefused *atomic.Bool) *tracker {
	return &tracker{chart: chartID, lat: lat, resumeRefused: resumeRefused, tsCol: -1}
}

// connected starts a new connection: after a lost one, the next subscribe
// resumes the held stream and ops published before now are catch-up.
func (t *tracker) connected(now int64) {
	t.fresh = false
	t.pendingRef = ""
	t.settled.Store(false)
	if t.have {
		t.recovering = true
		t.catchupBefore = now
	}
}

// subscribeMsg returns the subscribe message to send, and remembers it as
// the outstanding one. It resumes the held stream after a lost connection
// unless the server refuses resuming.
func (t *tracker) subscribeMsg() []byte {
	t.refs++
	t.pendingRef = "s" + strconv.Itoa(t.refs)
	t.pendingSnap = false
	t.pendingResume = t.recovering && t.have && !t.resumeRefused.Load()
	t.settled.Store(false)
	b := make([]byte, 0, 128)
	b = append(b, `{"type":"subscribe","ref":"`...)
	b = append(b, t.pendingRef...)
	b = append(b, `","chart":`...)
	b = strconv.AppendQuote(b, t.chart)
	if t.pendingResume {
		b = append(b, `,"offset":`...)
		b = strconv.AppendUint(b, t.off, 10)
		b = append(b, `,"epoch":`...)
		b = strconv.AppendQuote(b, t.epoch)
	}
	return append(b, '}')
}

// handle processes one server frame (one line of a message) received at
// now (Unix ns).
func (t *tracker) handle(line []byte, now int64) action {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return actNone
	}
	if env, ok := scanOpFrame(line); ok {
		return t.op(env.stream, env.epoch, env.offset, env.op, now)
	}
	f := &t.f
	f.reset()
	if err := json.Unmarshal(line, f); err != nil {
		t.stats.DecodeErrors++
		t.fail("decode frame: %v", err)
		return actNone
	}
	switch f.Type {
	case "hello":
		if f.V != 1 {
			t.protocolError("hello: protocol version %d, want 1", f.V)
			return actClose
		}
		if t.fresh {
			t.protocolError("a second hello on one connection")
			return actNone
		}
		t.fresh = true
		return actSubscribe
	case "snapshot":
		return t.snapshot(f)
	case "op":
		return t.op([]byte(f.Stream), []byte(f.Epoch), f.Offset, f.Op, now)
	case "reply":
		return t.reply(f)
	}
	return actNone // frames this client does not use (presence, …)
}

func (t *tracker) snapshot(f *frame) action {
	if f.Stream != t.chart {
		return actNone
	}
	if f.State == nil {
		t.protocolError("snapshot without state")
		return actNone
	}
	switch {
	case !t.have:
		t.base = f.Offset
	case f.Epoch != t.epoch:
		// The stream's history restarted: what it skipped cannot be told.
		t.stats.EpochChanges++
	case f.Offset < t.off:
		t.protocolError("snapshot at offset %d, behind the held %d", f.Offset, t.off)
	default:
		skipped := f.Offset - t.off
		t.stats.Skipped += skipped
		if t.pendingRef == "" {
			t.stats.Conflations++
			t.stats.ConflationSkips += skipped
		}
	}
	if t.pendingRef != "" {
		t.pendingSnap = true
	} else if t.have && f.Epoch != t.epoch {
		t.stats.Conflations++
	}
	t.have = true
	t.epoch = f.Epoch
	t.off = f.Offset
	t.state = *f.State
	f.State = nil
	t.newState()
	t.offset.Store(t.off)
	return actNone
}

// newState follows a new held state (a snapshot, a replace op). It finds
// the column that carries the publish time, and gives the held rows spare
// room that depends on the viewer. A chart that keeps r rows outgrows its
// row array every r+2 appends or so (append doubles it, the oldest rows
// are resliced away), and the copies of a chart all get the same ops at
// the same moment: 10,000 viewers reallocating in the same 100 ms (about
// 50 MiB of fresh memory, every 10 s) showed in 90 s runs as one-second
// bursts of the bench's latency, not the server's. An exact first
// capacity between r+1 and 2r+2 spreads them evenly over the cycle.
func (t *tracker) newState() {
	t.tsCol = -1
	for i, c := range t.state.Data.Columns {
		if c.Name == "ts" && c.Type == chart.Number {
			t.tsCol = i
		}
	}
	if r := t.state.Config.Retention; r > 0 {
		rows := t.state.Data.Rows
		t.state.Data.Rows = append(make([][]any, 0, max(len(rows), r)+1+t.spread%(r+2)), rows...)
	}
}

// op handles an op frame of stream at epoch and offset, whose op is raw.
func (t *tracker) op(stream, epoch []byte, offset uint64, raw []byte, now int64) action {
	if string(stream) != t.chart {
		return actNone
	}
	resyncing := t.pendingRef != "" && !t.pendingResume && !t.pendingSnap
	switch {
	case !t.have:
		t.protocolError("op at offset %d before any snapshot", offset)
		return actNone
	case resyncing:
		// A fresh snapshot is on its way; it replaces what these would do.
		return actNone
	case string(epoch) != t.epoch:
		t.stats.EpochMismatches++
		t.fail("op of epoch %q, held %q", epoch, t.epoch)
		return t.resync()
	case offset <= t.off:
		t.stats.Duplicates++
		t.fail("op at offset %d, already held %d", offset, t.off)
		return actNone
	case offset != t.off+1:
		t.stats.Gaps++
		t.fail("op at offset %d after %d", offset, t.off)
		return t.resync()
	}
	op, err := t.ops.parse(t.epoch, offset, raw)
	if err != nil {
		t.stats.DecodeErrors++
		t.fail("op at offset %d: %v", offset, err)
		return t.resync()
	}
	var ts int64 = -1
	if t.tsCol >= 0 && op.Kind == chart.OpAppend && len(op.Rows) > 0 && len(op.Rows[0]) > t.tsCol {
		if v, ok := op.Rows[0][t.tsCol].(float64); ok {
			ts = int64(v)
		}
	}
	if err := t.state.Apply(op); err != nil {
		t.stats.ApplyErrors++
		t.fail("apply op at offset %d: %v", offset, err)
		return t.resync()
	}
	if op.Kind == chart.OpReplace {
		t.newState()
	}
	t.off = offset
	t.offset.Store(t.off)
	t.stats.Received++
	if ts >= 0 {
		if ts < t.catchupBefore {
			t.stats.Catchup++
		} else if t.lat != nil {
			t.lat.Record(now - ts)
			if t.tl != nil {
				t.tl.record(ts, now-ts)
			}
		}
	}
	return actNone
}

// resync asks for a fresh snapshot on the same connection, unless one is
// already on its way.
func (t *tracker) resync() action {
	if t.pendingRef != "" {
		return actNone
	}
	t.stats.Resyncs++
	t.recovering = false
	return actSubscribe
}

func (t *tracker) reply(f *frame) action {
	if f.Ref == "" || f.Ref != t.pendingRef {
		if !f.OK {
			msg := "no error"
			if f.Error != nil {
				msg = f.Error.Code + ": " + f.Error.Message
			}
			t.protocolError("error reply to %q, not the outstanding subscribe: %s", f.Ref, msg)
		}
		return actNone
	}
	t.pendingRef = ""
	if !f.OK {
		if t.pendingResume && f.Error != nil && (f.Error.Field == "offset" || f.Error.Field == "epoch") {
			// A server without resume: fall back to a snapshot.
			t.resumeRefused.Store(true)
			return actSubscribe
		}
		t.stats.SubscribeErrors++
		if f.Error != nil {
			t.fail("subscribe %s: %s: %s", t.chart, f.Error.Code, f.Error.Message)
		}
		return actClose
	}
	if !t.have {
		t.protocolError("subscribe reply before any snapshot")
		return actClose
	}
	if t.recovering {
		resumed := !t.pendingSnap
		if f.Resumed != nil && *f.Resumed != resumed {
			t.protocolError("reply says resumed=%v, but a snapshot came=%v", *f.Resumed, t.pendingSnap)
		}
		if resumed {
			t.stats.Resumed++
		} else {
			t.stats.SnapshotRecov++
		}
		t.recovering = false
	}
	if !t.subbed {
		t.subbed = true // once: read by others after the viewer's ready signal
	}
	t.pendingResume = false
	t.settled.Store(true)
	return actNone
}

func (t *tracker) fail(format string, args ...any) {
	t.stats.LastError = fmt.Sprintf(format, args...)
}

// protocolError counts a frame that breaks the protocol.
func (t *tracker) protocolError(format string, args ...any) {
	t.stats.ProtocolErrors++
	t.fail(format, args...)
	if t.stats.ProtocolError == "" {
		t.stats.ProtocolError = t.stats.LastError
	}
}
