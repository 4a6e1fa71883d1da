package websocket

import (
	"bytes"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Header is a frame's header (RFC 6455, section 5.2).
type Header = ws.Header

// OpCode is a frame's opcode (RFC 6455, section 5.2).
type OpCode = ws.OpCode

// The opcodes.
const (
	OpContinuation = ws.OpContinuation
	OpText         = ws.OpText
	OpBinary       = ws.OpBinary
	OpClose        = ws.OpClose
	OpPing         = ws.OpPing
	OpPong         = ws.OpPong
)

// StatusCode is a close frame's status code (RFC 6455, section 7.4).
type StatusCode = ws.StatusCode

// The status codes this server sends or checks for.
const (
	StatusNormalClosure   = ws.StatusNormalClosure
	StatusGoingAway       = ws.StatusGoingAway
	StatusProtocolError   = ws.StatusProtocolError
	StatusNoStatusRcvd    = ws.StatusNoStatusRcvd
	StatusInvalidPayload  = ws.StatusInvalidFramePayloadData
	StatusPolicyViolation = ws.StatusPolicyViolation
	StatusMessageTooBig   = ws.StatusMessageTooBig
	StatusInternalError   = ws.StatusInternalServerError
)

// MaxServerHeader is the longest header of a frame a server writes: no
// mask, a 64-bit length.
const MaxServerHeader = 10

// HeaderWriter encodes the headers of a server's frames (final, unmasked)
// with gobwas/ws into the room a caller keeps in front of a message, so
// that a message is built once, in one buffer, and written with one
// system call. The zero value is ready; it is not safe for concurrent
// use. It allocates nothing: keep it where the writer's other scratch
// space is.
type HeaderWriter struct {
	scratch [ws.MaxHeaderSize]byte
	out     []byte // where Write puts the header: room's end
}

// Write is for gobwas/ws's WriteHeaderBuffer only: it puts the header at
// the end of the room.
func (hw *HeaderWriter) Write(p []byte) (int, error) {
	start := len(hw.out) - len(p)
	if start < 0 {
		return 0, io.ErrShortBuffer
	}
	copy(hw.out[start:], p)
	hw.out = hw.out[:start]
	return len(p), nil
}

// Frame turns msg, whose first MaxServerHeader bytes are room for the
// header and the rest the payload, into a final frame of opcode op: it
// returns the part of msg that is the frame, header and payload.
func (hw *HeaderWriter) Frame(msg []byte, op OpCode) []byte {
	n := len(msg) - MaxServerHeader
	hw.out = msg[:MaxServerHeader]
	// The room is always large enough: it cannot fail.
	_ = ws.WriteHeaderBuffer(hw, ws.Header{Fin: true, OpCode: op, Length: int64(n)}, hw.scratch[:])
	start := len(hw.out)
	hw.out = nil
	return msg[start:]
}

// AppendFrame appends a whole final unmasked frame (a server's) to dst.
func AppendFrame(dst []byte, op OpCode, payload []byte) []byte {
	b := bytes.NewBuffer(dst)
	_ = ws.WriteFrame(b, ws.NewFrame(op, true, payload))
	return b.Bytes()
}

// AppendClientFrame appends a whole final frame masked with a fresh key,
// as a client must send it, to dst; payload is left as it was.
func AppendClientFrame(dst []byte, op OpCode, payload []byte) []byte {
	f := ws.MaskFrame(ws.NewFrame(op, true, payload))
	b := bytes.NewBuffer(dst)
	_ = ws.WriteFrame(b, f)
	return b.Bytes()
}

// ClosePayload is the body of a close frame: the code and the reason, cut
// to fit a control frame (125 bytes) on a UTF-8 boundary.
func ClosePayload(code StatusCode, reason string) []byte {
	const most = ws.MaxControlFramePayloadSize - 2
	if len(reason) > most {
		reason = reason[:most]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return ws.NewCloseFrameBody(code, reason)
}
