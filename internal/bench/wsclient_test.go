package bench

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

// TestServerFrameBoundedBeforeBuffering: a frame that announces more than
// a message may hold ends the connection at its header, before the
// client buffers any of it.
func TestServerFrameBoundedBeforeBuffering(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s, err := newSock(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := &wsConn{sock: s, done: make(chan error, 1)}
	c.rx = newClientReceiver()
	huge := binary.BigEndian.AppendUint64([]byte{0x81, 127}, maxServerMessage+1)
	if c.feed(huge, 0) {
		t.Fatal("a frame announcing more than a message may hold was taken, to be buffered")
	}
	if err := <-c.done; err == nil || !strings.Contains(err.Error(), "more than a message may have") {
		t.Errorf("the connection ended with %v", err)
	}
	if len(c.in) != 0 {
		t.Errorf("%d bytes buffered", len(c.in))
	}
}
