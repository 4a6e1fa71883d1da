// Package websocket is AshReports' WebSocket (RFC 6455) code, both ends of
// it: the server's opening handshake (Accept) and the client's (Dial),
// frame headers, and the Receiver, which checks and assembles the frames
// one end receives. Frame headers are read, checked and written by
// github.com/gobwas/ws, which works on any io.Reader and io.Writer and
// forces no buffers of its own; this package adds what a protocol
// endpoint needs on top (message assembly, size limits, close codes) and
// leaves the socket and its write path to the caller (package live
// writes frames straight from the goroutine that delivers them).
//
// Concurrency: Accept and Dial may be called from any goroutine. A
// Receiver is one direction of one connection and is used by one
// goroutine at a time (its reader); a HeaderWriter by one writer at a
// time. The functions that build frames keep no state.
//
// Ordering: a Receiver sees frames in the order they arrive and applies
// RFC 6455's rules to that order (a continuation belongs to the message
// before it; control frames may come between the frames of a message).
package websocket
