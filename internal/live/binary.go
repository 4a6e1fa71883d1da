package live

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"sync"

	"github.com/ashreports/ashreports/internal/telemetry"
)

// The binary format (docs/protocol.md), chosen per connection with
// /live?format=binary: each WebSocket message is a sequence of records,
// one per frame: a flags byte, the payload's length as an unsigned varint,
// and the payload, the frame's JSON. Flag bit 0 says the payload is
// compressed with raw DEFLATE (RFC 1951); frames of at least the
// compression threshold are, compressed once for all viewers.
const flagDeflate = 1

var flaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// deflate returns data compressed with raw DEFLATE.
func deflate(data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) / 3)
	w := flaters.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = w.Write(data)
	_ = w.Close()
	flaters.Put(w)
	return b.Bytes()
}

// appendRecord appends one binary record.
func appendRecord(buf *bytes.Buffer, flags byte, payload []byte) {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = flags
	n := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	buf.Write(hdr[:1+n])
	buf.Write(payload)
}

// compressed is a frame's deflated bytes, made once on first need and
// shared by every binary viewer.
type compressed struct {
	once sync.Once
	data []byte
}

func (z *compressed) get(frame []byte, m *telemetry.Metrics) []byte {
	z.once.Do(func() {
		z.data = deflate(frame)
		m.CompressIn.Add(float64(len(frame)))
		m.CompressOut.Add(float64(len(z.data)))
	})
	return z.data
}
