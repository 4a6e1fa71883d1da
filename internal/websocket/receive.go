package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// CloseError is a breach of RFC 6455 by the peer: the connection is to be
// closed with Code (1002, 1007 or 1009) and Reason.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket: %s (close %d)", e.Reason, e.Code) }

func protocolError(reason string) *CloseError {
	return &CloseError{Code: StatusProtocolError, Reason: reason}
}

// ErrShort says that bytes hold only part of a frame header.
var ErrShort = errors.New("websocket: short frame header")

// Receiver checks the frames one end of a connection receives, in order,
// against RFC 6455, and assembles their messages: headers (masking, reserved
// bits and opcodes, control frames' size and fragmentation, through
// gobwas/ws's checks), continuations, the size of a whole message, and
// close frames' codes and reasons. One Receiver serves one direction of
// one connection, on one goroutine at a time.
type Receiver struct {
	max int64 // the most bytes a message may have
	// size is the bytes so far of the data message under way, and op its
	// opcode (0 between messages).
	size  int64
	state ws.State // the side: server (client frames are masked) or client
	op    OpCode
	// hdr is scratch space for reading a header without allocating: a
	// server keeps a Receiver per idle connection, so it holds no more.
	hdr [ws.MaxHeaderSize - 2]byte
	// rd is Parse's, made at its first call (a client's).
	rd *bytes.Reader
}

// NewServerReceiver returns the Receiver of a server's connection: client
// frames must be masked. A message of more than maxMessage bytes is
// refused (1009).
func NewServerReceiver(maxMessage int64) Receiver {
	return Receiver{state: ws.StateServerSide, max: maxMessage}
}

// NewClientReceiver returns the Receiver of a client's connection: server
// frames must not be masked.
func NewClientReceiver(maxMessage int64) Receiver {
	return Receiver{state: ws.StateClientSide, max: maxMessage}
}

// Frame checks h, the header of the next frame, and returns the opcode
// of the message it is part of: OpText or OpBinary for a data frame
// (continuations too), the frame's own for a control frame; last says a
// data frame ends its message. An error is a *CloseError.
func (r *Receiver) Frame(h Header) (op OpCode, last bool, err error) {
	st := r.state
	if r.op != 0 {
		st |= ws.StateFragmented
	}
	if err := ws.CheckHeader(h, st); err != nil {
		return 0, false, protocolError(err.Error())
	}
	if h.OpCode.IsControl() {
		return h.OpCode, true, nil
	}
	if h.OpCode != OpContinuation {
		r.op, r.size = h.OpCode, 0
	}
	if h.Length > r.max-r.size {
		return 0, false, &CloseError{Code: StatusMessageTooBig, Reason: fmt.Sprintf("message larger than %d bytes", r.max)}
	}
	r.size += h.Length
	op = r.op
	if h.Fin {
		r.op = 0
	}
	return op, h.Fin, nil
}

// Parse reads the header of the frame at the start of b: the header and
// its length in bytes. It returns ErrShort when b holds only part of it,
// and a *CloseError for a header no frame may have.
func (r *Receiver) Parse(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, ErrShort
	}
	n = 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	if len(b) < n {
		return h, 0, ErrShort
	}
	if r.rd == nil {
		r.rd = new(bytes.Reader)
	}
	r.rd.Reset(b[:n])
	h, err = ws.ReadHeaderBuffer(r.rd, r.hdr[:])
	if err != nil {
		return h, 0, protocolError(err.Error())
	}
	return h, n, nil
}

// ReadMessage reads frames from br until a whole data message has
// arrived, and returns its opcode and its size. It keeps the message's
// first keep bytes, unmasked, in buf and reads past the rest. Control
// frames that come before the message's end are unmasked and given to
// control (a ping's payload, to answer with a pong; a pong); a close frame
// is checked and ends the read with io.EOF. A frame that breaks RFC 6455
// ends it with a *CloseError; a read error is returned as it is.
func (r *Receiver) ReadMessage(br *bufio.Reader, buf *bytes.Buffer, keep int64, control func(op OpCode, payload []byte)) (op OpCode, size int64, err error) {
	for {
		h, err := ws.ReadHeaderBuffer(br, r.hdr[:])
		switch {
		case errors.Is(err, ws.ErrHeaderLengthMSB), errors.Is(err, ws.ErrHeaderLengthUnexpected):
			return 0, 0, protocolError(err.Error())
		case err != nil:
			return 0, 0, err
		}
		fop, last, err := r.Frame(h)
		if err != nil {
			return 0, 0, err
		}
		if h.OpCode.IsControl() {
			var p [ws.MaxControlFramePayloadSize]byte
			b := p[:h.Length]
			if _, err := io.ReadFull(br, b); err != nil {
				return 0, 0, unexpected(err)
			}
			if h.Masked {
				ws.Cipher(b, h.Mask, 0)
			}
			if h.OpCode == OpClose {
				if _, _, err := CheckClose(b); err != nil {
					return 0, 0, err
				}
				return 0, 0, io.EOF
			}
			control(h.OpCode, b)
			continue
		}
		start := buf.Len()
		kept := max(0, min(h.Length, keep-size))
		if _, err := io.CopyN(buf, br, kept); err != nil {
			return 0, 0, unexpected(err)
		}
		if _, err := io.CopyN(io.Discard, br, h.Length-kept); err != nil {
			return 0, 0, unexpected(err)
		}
		if h.Masked {
			ws.Cipher(buf.Bytes()[start:], h.Mask, 0)
		}
		size += h.Length
		if last {
			return fop, size, nil
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// CheckClose reads a close frame's body: its code (StatusNoStatusRcvd
// when it has none) and reason. A code no endpoint may send, or a reason
// that is not UTF-8, is a *CloseError (1002, 1007), as RFC 6455 section
// 7.4 and the Autobahn cases 7.5 and 7.9 want.
func CheckClose(payload []byte) (StatusCode, string, error) {
	switch len(payload) {
	case 0:
		return StatusNoStatusRcvd, "", nil
	case 1:
		return 0, "", protocolError("close frame with a 1-byte body")
	}
	code := StatusCode(binary.BigEndian.Uint16(payload))
	reason := string(payload[2:])
	if !validCloseCode(code) {
		return 0, "", protocolError(fmt.Sprintf("close code %d may not be sent", code))
	}
	if !utf8.ValidString(reason) {
		return 0, "", &CloseError{Code: StatusInvalidPayload, Reason: "close reason is not UTF-8"}
	}
	return code, reason, nil
}

// validCloseCode reports whether an endpoint may send code: those RFC 6455
// defines for sending (1000–1003, 1007–1011), those IANA registered since
// (1012–1014), and the ranges for libraries and applications (3000–4999).
// Codes below 1000, 1004–1006 and 1015 (reserved, never sent), the rest of
// 1016–2999 and codes from 5000 are refused. gobwas/ws's own check refuses
// 1012–1014 and lets 5000 and up through, hence this one.
func validCloseCode(code StatusCode) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}
