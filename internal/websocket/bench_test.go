package websocket

import (
	"bufio"
	"bytes"
	"testing"
)

// BenchmarkHeaderWriter is the cost of a server message's header, which a
// writer pays once per message it writes.
func BenchmarkHeaderWriter(b *testing.B) {
	var hw HeaderWriter
	msg := make([]byte, MaxServerHeader+300)
	b.ReportAllocs()
	for b.Loop() {
		_ = hw.Frame(msg, OpText)
	}
}

// BenchmarkReadMessage is the cost of reading one small client message.
func BenchmarkReadMessage(b *testing.B) {
	frame := clientFrame(0x81, []byte(`{"ref":"1","type":"subscribe","chart":"sales","filters":{"region":"Europe"}}`), false)
	r := NewServerReceiver(1 << 20)
	rd := bytes.NewReader(frame)
	br := bufio.NewReaderSize(rd, 256)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(frame)
		br.Reset(rd)
		buf.Reset()
		if _, _, err := r.ReadMessage(br, &buf, 1<<20, func(OpCode, []byte) {}); err != nil {
			b.Fatal(err)
		}
	}
}
