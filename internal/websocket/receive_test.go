package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// clientFrame is a client's frame, masked unless unmasked is set, with
// the given first byte (FIN, RSV and opcode).
func clientFrame(b0 byte, payload []byte, unmasked bool) []byte {
	h := ws.Header{Fin: b0&0x80 != 0, Rsv: (b0 >> 4) & 7, OpCode: OpCode(b0 & 0x0F), Length: int64(len(payload)), Masked: !unmasked, Mask: [4]byte{9, 8, 7, 6}}
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, h)
	start := b.Len()
	b.Write(payload)
	if !unmasked {
		ws.Cipher(b.Bytes()[start:], h.Mask, 0)
	}
	return b.Bytes()
}

func closeBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// received is what ReadMessage made of a client's bytes: the messages, the
// control frames handed over, and how reading ended.
type received struct {
	messages []string
	controls []string
	code     StatusCode // of a *CloseError; 0 when reading ended otherwise
	end      error
}

func receive(data []byte, keep, maxMessage int64) received {
	r := NewServerReceiver(maxMessage)
	br := bufio.NewReaderSize(bytes.NewReader(data), 16)
	var got received
	for {
		var buf bytes.Buffer
		op, size, err := r.ReadMessage(br, &buf, keep, func(op OpCode, p []byte) {
			name := map[OpCode]string{OpPing: "Ping", OpPong: "Pong"}[op]
			got.controls = append(got.controls, name+":"+string(p))
		})
		if err != nil {
			if ce, ok := errors.AsType[*CloseError](err); ok {
				got.code = ce.Code
			}
			got.end = err
			return got
		}
		msg := buf.String()
		if op == OpBinary {
			msg = "binary:" + msg
		}
		if size > int64(buf.Len()) {
			msg += "…"
		}
		got.messages = append(got.messages, msg)
	}
}

func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// TestReceiverRules runs the frame sequences of the Autobahn test suite's
// groups through a server's Receiver: framing (1, 9), pings and pongs (2),
// reserved bits (3), opcodes (4), fragmentation (5) and close frames (7).
func TestReceiverRules(t *testing.T) {
	long := strings.Repeat("x", 70000)
	for _, tc := range []struct {
		name     string
		data     []byte
		messages []string
		controls []string
		code     StatusCode // the close code wanted; 0: a clean end (EOF or a close frame)
	}{
		{"text", clientFrame(0x81, []byte("hello"), false), []string{"hello"}, nil, 0},
		{"binary", clientFrame(0x82, []byte{1, 2}, false), []string{"binary:\x01\x02"}, nil, 0},
		{"empty text", clientFrame(0x81, nil, false), []string{""}, nil, 0},
		{"64 KiB+ text", clientFrame(0x81, []byte(long), false), []string{long}, nil, 0},
		{"unmasked", clientFrame(0x81, []byte("x"), true), nil, nil, StatusProtocolError},
		{"ping 125 bytes", clientFrame(0x89, bytes.Repeat([]byte("p"), 125), false), nil, []string{"Ping:" + strings.Repeat("p", 125)}, 0},
		{"ping 126 bytes", clientFrame(0x89, bytes.Repeat([]byte("p"), 126), false), nil, nil, StatusProtocolError},
		{"pong", clientFrame(0x8A, []byte("unasked"), false), nil, []string{"Pong:unasked"}, 0},
		{"fragmented ping", clientFrame(0x09, []byte("a"), false), nil, nil, StatusProtocolError},
		{"RSV1", clientFrame(0xC1, []byte("x"), false), nil, nil, StatusProtocolError},
		{"RSV2", clientFrame(0xA1, []byte("x"), false), nil, nil, StatusProtocolError},
		{"RSV3 on a ping", clientFrame(0x99, nil, false), nil, nil, StatusProtocolError},
		{"opcode 3", clientFrame(0x83, nil, false), nil, nil, StatusProtocolError},
		{"opcode 7", clientFrame(0x87, []byte("x"), false), nil, nil, StatusProtocolError},
		{"opcode 11", clientFrame(0x8B, nil, false), nil, nil, StatusProtocolError},
		{"opcode 15", clientFrame(0x8F, []byte("x"), false), nil, nil, StatusProtocolError},
		{"fragments", join(clientFrame(0x01, []byte("fra"), false), clientFrame(0x00, []byte("gme"), false), clientFrame(0x80, []byte("nts"), false)), []string{"fragments"}, nil, 0},
		{"ping inside fragments", join(clientFrame(0x01, []byte("a"), false), clientFrame(0x89, []byte("p"), false), clientFrame(0x80, []byte("b"), false)), []string{"ab"}, []string{"Ping:p"}, 0},
		{"continuation first", clientFrame(0x80, []byte("x"), false), nil, nil, StatusProtocolError},
		{"text inside fragments", join(clientFrame(0x01, []byte("a"), false), clientFrame(0x81, []byte("b"), false)), nil, nil, StatusProtocolError},
		{"fragments then a message", join(clientFrame(0x01, []byte("a"), false), clientFrame(0x80, []byte("b"), false), clientFrame(0x81, []byte("c"), false)), []string{"ab", "c"}, nil, 0},
		{"close", join(clientFrame(0x88, closeBody(1000, "bye"), false), clientFrame(0x81, []byte("after"), false)), nil, nil, 0},
		{"close, no body", clientFrame(0x88, nil, false), nil, nil, 0},
		{"close, 1-byte body", clientFrame(0x88, []byte{3}, false), nil, nil, StatusProtocolError},
		{"close 999", clientFrame(0x88, closeBody(999, ""), false), nil, nil, StatusProtocolError},
		{"close 1005", clientFrame(0x88, closeBody(1005, ""), false), nil, nil, StatusProtocolError},
		{"close 3000", clientFrame(0x88, closeBody(3000, ""), false), nil, nil, 0},
		{"close reason not UTF-8", clientFrame(0x88, closeBody(1000, "\xce\xba\xe1\xbd"), false), nil, nil, StatusInvalidPayload},
		{"close between fragments", join(clientFrame(0x01, []byte("a"), false), clientFrame(0x88, closeBody(1001, ""), false)), nil, nil, 0},
		{"message over the limit", clientFrame(0x81, bytes.Repeat([]byte("m"), 101), false), nil, nil, StatusMessageTooBig},
		{"fragments over the limit", join(clientFrame(0x01, bytes.Repeat([]byte("m"), 60), false), clientFrame(0x80, bytes.Repeat([]byte("m"), 60), false)), nil, nil, StatusMessageTooBig},
		{"kept in part", clientFrame(0x81, bytes.Repeat([]byte("k"), 90), false), []string{strings.Repeat("k", 50) + "…"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep := int64(1 << 20)
			if tc.name == "kept in part" {
				keep = 50
			}
			maxMessage := int64(1 << 20)
			if strings.Contains(tc.name, "over the limit") || tc.name == "kept in part" {
				maxMessage = 100
			}
			got := receive(tc.data, keep, maxMessage)
			if strings.Join(got.messages, "|") != strings.Join(tc.messages, "|") {
				t.Errorf("messages %q, want %q", got.messages, tc.messages)
			}
			if strings.Join(got.controls, "|") != strings.Join(tc.controls, "|") {
				t.Errorf("control frames %q, want %q", got.controls, tc.controls)
			}
			if got.code != tc.code {
				t.Errorf("ended with %v (code %d), want code %d", got.end, got.code, tc.code)
			}
			if tc.code == 0 && got.end != io.EOF {
				t.Errorf("ended with %v, want io.EOF", got.end)
			}
		})
	}
}

// TestReceiverTruncated: bytes that end inside a frame end the read with
// io.ErrUnexpectedEOF (inside a header: io.EOF or io.ErrUnexpectedEOF),
// never with a message.
func TestReceiverTruncated(t *testing.T) {
	whole := join(clientFrame(0x01, []byte("abc"), false), clientFrame(0x80, []byte("def"), false))
	for n := 1; n < len(whole); n++ {
		got := receive(whole[:n], 1<<20, 1<<20)
		if len(got.messages) != 0 || got.code != 0 {
			t.Fatalf("%d bytes: messages %q, code %d", n, got.messages, got.code)
		}
		if !errors.Is(got.end, io.EOF) && !errors.Is(got.end, io.ErrUnexpectedEOF) {
			t.Fatalf("%d bytes: ended with %v", n, got.end)
		}
	}
}

// TestCheckCloseCodes: every code an endpoint may not send is refused
// with 1002; the ones it may send are read back.
func TestCheckCloseCodes(t *testing.T) {
	for code := range 1 << 16 {
		c, _, err := CheckClose(binary.BigEndian.AppendUint16(nil, uint16(code)))
		ok := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
		switch {
		case ok && err != nil:
			t.Fatalf("code %d refused: %v", code, err)
		case ok && int(c) != code:
			t.Fatalf("code %d read as %d", code, c)
		case !ok && err == nil:
			t.Fatalf("code %d accepted", code)
		case !ok:
			if ce, _ := errors.AsType[*CloseError](err); ce == nil || ce.Code != StatusProtocolError {
				t.Fatalf("code %d: %v, want a 1002 CloseError", code, err)
			}
		}
	}
}

// TestClientReceiverParse reads server frames from bytes that arrive in
// pieces, as the bench's client does: a header is ErrShort until whole.
func TestClientReceiverParse(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 65535, 65536} {
		frame := AppendFrame(nil, OpText, bytes.Repeat([]byte("s"), n))
		r := NewClientReceiver(1 << 20)
		for cut := range len(frame) {
			h, hn, err := r.Parse(frame[:cut])
			if err == nil {
				fresh := NewClientReceiver(1 << 20) // Frame moves a Receiver on: one per cut
				if _, _, err := fresh.Frame(h); err != nil {
					t.Fatalf("%d-byte payload: %v", n, err)
				}
				if int64(cut-hn) < h.Length {
					continue // the header is whole, the payload not yet
				}
				t.Fatalf("%d-byte payload: whole at %d of %d bytes", n, cut, len(frame))
			}
			if !errors.Is(err, ErrShort) {
				t.Fatalf("%d-byte payload, first %d bytes: %v", n, cut, err)
			}
		}
		h, hn, err := r.Parse(frame)
		if err != nil || h.Length != int64(n) || hn+n != len(frame) || h.OpCode != OpText || !h.Fin || h.Masked {
			t.Fatalf("%d-byte payload: header %+v, %d bytes, %v", n, h, hn, err)
		}
	}
	// A client refuses a masked frame from the server.
	r := NewClientReceiver(1 << 20)
	h, _, err := r.Parse(clientFrame(0x81, []byte("x"), false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Frame(h); err == nil {
		t.Error("a masked server frame was accepted")
	}
}

// TestHeaderWriter: the header written into a message's room reads back
// as a final frame of the payload's length, for each length encoding.
func TestHeaderWriter(t *testing.T) {
	var hw HeaderWriter
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		msg := append(make([]byte, MaxServerHeader), bytes.Repeat([]byte("p"), n)...)
		f := hw.Frame(msg, OpBinary)
		h, err := ws.ReadHeader(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if !h.Fin || h.OpCode != OpBinary || h.Masked || h.Length != int64(n) || len(f) != ws.HeaderSize(h)+n {
			t.Errorf("%d: header %+v in a frame of %d bytes", n, h, len(f))
		}
	}
	if allocs := testing.AllocsPerRun(100, func() {
		msg := make([]byte, MaxServerHeader+200)
		_ = hw.Frame(msg, OpText)
	}); allocs > 1 { // the make
		t.Errorf("Frame allocates %.0f times", allocs-1)
	}
}

func TestClosePayload(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	p := ClosePayload(StatusPolicyViolation, long)
	if len(p) > 125 {
		t.Fatalf("close payload of %d bytes", len(p))
	}
	code, reason, err := CheckClose(p)
	if err != nil || code != StatusPolicyViolation || !strings.HasPrefix(long, reason) || len(reason) < 120 {
		t.Errorf("read back %d %q %v", code, reason, err)
	}
}

// TestGobwasCloseCheckDiffers holds what architecture.md says of
// gobwas/ws's own close-code check, the reason CheckClose is ours: it
// refuses the registered 1012–1014 and lets codes from 5000 through.
func TestGobwasCloseCheckDiffers(t *testing.T) {
	for _, code := range []ws.StatusCode{1012, 1013, 1014} {
		if ws.CheckCloseFrameData(code, "") == nil {
			t.Errorf("gobwas/ws now takes %d: CheckClose could be its", code)
		}
	}
	if ws.CheckCloseFrameData(5000, "") != nil {
		t.Error("gobwas/ws now refuses 5000: CheckClose could be its")
	}
}
