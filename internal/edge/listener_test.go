package edge

import (
	"net"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestListenerCaps: past its per-address cap an address's new connection
// is closed at once, other addresses still get in up to the total cap,
// and a closed connection frees its place.
func TestListenerCaps(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"reason"})
	l := Limit(inner, Caps{Total: 3, PerAddr: 2}, refused)
	accepted := make(chan net.Conn)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })

	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	admitted := func(from string) net.Conn {
		t.Helper()
		dial(from)
		c := <-accepted
		t.Cleanup(func() { c.Close() })
		return c
	}
	refusedNow := func(from, reason string, want float64) {
		t.Helper()
		c := dial(from)
		read := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			read <- err
		}()
		select {
		case sc := <-accepted:
			sc.Close()
			t.Fatalf("a connection from %s past the cap was accepted", from)
		case err := <-read:
			if err == nil {
				t.Fatalf("a connection from %s past the cap read a byte, want it closed", from)
			}
		}
		if got := testutil.ToFloat64(refused.WithLabelValues(reason)); got != want {
			t.Errorf("refused{reason=%q} = %v, want %v", reason, got, want)
		}
	}

	first := admitted("127.0.0.1")
	admitted("127.0.0.1")
	refusedNow("127.0.0.1", "per_addr", 1)
	admitted("127.0.0.2")
	refusedNow("127.0.0.3", "total", 1)
	first.Close()
	first.Close() // a second Close frees nothing more
	admitted("127.0.0.3")
	refusedNow("127.0.0.1", "total", 2)
	l.mu.Lock()
	total, ofAddr := l.total, l.byAddr["127.0.0.1"]
	l.mu.Unlock()
	if total != 3 || ofAddr != 1 {
		t.Errorf("counted %d in all, %d of 127.0.0.1; want 3 and 1", total, ofAddr)
	}
}

// TestListenerKeepsTCPMethods: a counted TCP connection still offers
// what the live socket uses of it (its send buffer, its descriptor).
func TestListenerKeepsTCPMethods(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(inner, Caps{Total: 1, PerAddr: 1}, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"reason"}))
	defer l.Close()
	cc, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(interface{ SetWriteBuffer(int) error }); !ok {
		t.Error("the accepted connection has no SetWriteBuffer")
	}
	if _, ok := c.(syscall.Conn); !ok {
		t.Error("the accepted connection has no SyscallConn")
	}
}
