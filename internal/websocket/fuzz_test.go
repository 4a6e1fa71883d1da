package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzReadMessage feeds arbitrary bytes to a server's Receiver, as a
// client could send them: whatever they are, reading ends in a message, a
// *CloseError, or a read error, never a panic; a message keeps at most
// keep bytes and is at most the limit; control frames are at most 125
// bytes. The same bytes, parsed as the client's Receiver does, never panic
// either.
func FuzzReadMessage(f *testing.F) {
	for _, seed := range [][]byte{
		clientFrame(0x81, []byte(`{"ref":"1","type":"ping"}`), false),
		clientFrame(0x81, []byte(`{"ref":"2","type":"subscribe","chart":"sales"}`), false),
		join(clientFrame(0x01, []byte(`{"ref":`), false), clientFrame(0x89, []byte("p"), false), clientFrame(0x80, []byte(`"3"}`), false)),
		clientFrame(0x88, closeBody(1000, "bye"), false),
		clientFrame(0x88, closeBody(999, ""), false),
		clientFrame(0x82, bytes.Repeat([]byte{0}, 300), false),
		clientFrame(0x81, []byte("x"), true),
		{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
		{0x81, 0xFE, 0xFF, 0xFF},
		AppendFrame(nil, OpText, []byte("server frame")),
	} {
		f.Add(seed)
	}
	const keep, limit = 64, 1024
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewServerReceiver(limit)
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			var buf bytes.Buffer
			op, size, err := r.ReadMessage(br, &buf, keep, func(op OpCode, p []byte) {
				if !op.IsControl() || len(p) > ws.MaxControlFramePayloadSize {
					t.Fatalf("control %v of %d bytes", op, len(p))
				}
			})
			if err != nil {
				if ce, ok := errors.AsType[*CloseError](err); ok {
					if ce.Code != StatusProtocolError && ce.Code != StatusInvalidPayload && ce.Code != StatusMessageTooBig {
						t.Fatalf("close code %d", ce.Code)
					}
				} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("read error %v", err)
				}
				break
			}
			if op != OpText && op != OpBinary {
				t.Fatalf("message opcode %v", op)
			}
			if size > limit || int64(buf.Len()) > min(size, keep) {
				t.Fatalf("message of %d bytes, %d kept", size, buf.Len())
			}
		}
		c := NewClientReceiver(limit)
		for b := data; len(b) > 0; {
			h, n, err := c.Parse(b)
			if err != nil {
				break
			}
			if _, _, err := c.Frame(h); err != nil {
				break
			}
			if h.Length > int64(len(b)-n) {
				break
			}
			b = b[n+int(h.Length):]
		}
	})
}
