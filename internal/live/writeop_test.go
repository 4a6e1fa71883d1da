package live

import (
	"bufio"
	"io"
	"testing"
)

// BenchmarkWriteOp is the cost of one op frame written to a viewer over
// a real loopback socket, on the delivering goroutine: queueing, the
// message with its frame header, the write system call.
func BenchmarkWriteOp(b *testing.B) {
	h := NewHub(HubConfig{Streams: &fakeStreams{}, Broker: &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}, BatchWindow: -1})
	defer h.Close()
	cc, sc := tcpPair(b)
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, cc); close(drained) }()
	c := newConn(h, sc, bufio.NewReader(sc))
	frame := []byte(`{"type":"op","stream":"c","chart":"c","epoch":"0123456789ab","offset":1,"ts":1764150000000,"op":{"op":"append","rows":[["2026-11-26T12:00:00Z",42.5]]}}`)
	var off uint64
	b.ReportAllocs()
	for b.Loop() {
		off++
		c.push(item{data: frame, stream: "c", offset: off, kind: op, high: true})
	}
	b.StopTimer()
	c.q.shutdown()
	close(c.done)
	c.writers.Wait()
	_ = c.closeSocket()
	<-drained
}
