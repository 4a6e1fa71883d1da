package bench

import (
	"bytes"
	"sync"

	"github.com/ashreports/ashreports/chart"
)

// opCache holds the last ops of one chart as chart.ParseOp parsed them, so
// that the hundreds of viewers of a chart, who receive the same op bytes,
// parse them once: a viewer whose op frame has the same epoch, offset and
// op bytes as an entry takes a deep copy of the entry's op (Apply
// normalises an op's rows in place, so viewers must not share one).
type opCache struct {
	mu      sync.RWMutex
	entries [256]opEntry
}

type opEntry struct {
	epoch  string
	offset uint64
	raw    []byte
	op     chart.Op
	ok     bool
}

// parse returns the op of raw, the op bytes of the frame at epoch and
// offset: from the cache when it holds them, else from chart.ParseOp.
func (c *opCache) parse(epoch string, offset uint64, raw []byte) (chart.Op, error) {
	if c == nil {
		return chart.ParseOp(raw)
	}
	e := &c.entries[offset%uint64(len(c.entries))]
	c.mu.RLock()
	if e.ok && e.offset == offset && e.epoch == epoch && bytes.Equal(e.raw, raw) {
		op := cloneOp(e.op)
		c.mu.RUnlock()
		return op, nil
	}
	c.mu.RUnlock()
	op, err := chart.ParseOp(raw)
	if err != nil {
		return op, err
	}
	c.mu.Lock()
	*e = opEntry{epoch: epoch, offset: offset, raw: append(e.raw[:0:0], raw...), op: cloneOp(op), ok: true}
	c.mu.Unlock()
	return op, nil
}

// cloneOp deep-copies op.
func cloneOp(op chart.Op) chart.Op {
	out := chart.Op{Kind: op.Kind, Rows: cloneMatrix(op.Rows), Keys: cloneMatrix(op.Keys)}
	if op.Data != nil {
		t := op.Data.Clone()
		if op.Data.Rows == nil {
			t.Rows = nil
		}
		out.Data = &t
	}
	if op.Config != nil {
		c := *op.Config
		if c.Colors != nil {
			c.Colors = append([]string{}, c.Colors...)
		}
		if c.Key != nil {
			c.Key = append([]string{}, c.Key...)
		}
		out.Config = &c
	}
	return out
}

func cloneMatrix(m [][]any) [][]any {
	if m == nil {
		return nil
	}
	out := make([][]any, len(m))
	for i, r := range m {
		if r != nil {
			out[i] = append(make([]any, 0, len(r)), r...)
		}
	}
	return out
}
