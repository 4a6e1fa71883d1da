package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ashreports/ashreports/internal/websocket"
)

// splitFrames calls fn with every protocol message of one WebSocket
// message: the server may batch several, one per line. Empty lines are
// skipped. It stops early when fn returns false.
func splitFrames(msg []byte, fn func(line []byte) bool) {
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if !fn(line) {
			return
		}
	}
}

// errGiveUp ends a viewer: the server broke the protocol or refused its
// subscription.
var errGiveUp = errors.New("viewer gave up")

// runShared is what every viewer of a run reads.
type runShared struct {
	publishStart atomic.Int64 // Unix ns; 0 until the publish phase starts
}

// viewer is one WebSocket client: it connects, subscribes to one chart and
// keeps its tracker fed until it is stopped. After a lost connection it
// reconnects and resumes.
type viewer struct {
	id     int
	chart  int
	t      *tracker
	wsURL  string
	token  string // API token sent in the handshake
	dialer *net.Dialer
	ps     *pollers
	shared *runShared
	rng    *rand.Rand

	slow           bool
	slowAt         time.Duration // from the publish start
	slowPause      time.Duration
	reconnect      bool
	dropAt         time.Duration // from the publish start
	reconnectPause time.Duration

	stopCh chan struct{} // closed when the run stops

	mu       sync.Mutex
	ws       *wsConn
	planned  bool
	stopping bool

	ready     chan struct{}
	readyOnce sync.Once
	alive     bool // subscribed after the ramp; Run's own

	// Owned by the viewer's goroutine; read after it ended.
	failed        string
	closeCodes    map[string]int
	plannedDrops  int
	reconnects    int
	dialErrors    int
	dropsMissed   int // guarded by mu
	paused        bool
	pausedFor     atomic.Int64 // ns; set when the pause ends
	everConnected bool
}

func (v *viewer) signalReady() { v.readyOnce.Do(func() { close(v.ready) }) }

// run connects and reads until the run stops.
func (v *viewer) run() {
	defer v.signalReady()
	attempts := 0
	for {
		if v.isStopping() {
			return
		}
		ws, rest, err := v.dial()
		if err != nil {
			v.dialErrors++
			attempts++
			if !v.t.subbed && attempts >= 3 {
				v.failed = "connect: " + err.Error()
				return
			}
			if !v.sleep(min(time.Duration(attempts)*200*time.Millisecond, 2*time.Second)) {
				return
			}
			continue
		}
		attempts = 0
		v.everConnected = true
		if !v.attach(ws) {
			ws.end(nil)
			return
		}
		err = v.session(ws, rest)
		planned, stopping := v.detach()
		if stopping {
			return
		}
		if errors.Is(err, errGiveUp) {
			v.failed = v.t.stats.LastError
			return
		}
		v.reconnects++
		if planned {
			v.plannedDrops++
			if !v.sleep(v.reconnectPause) {
				return
			}
			continue
		}
		v.closeCodes[closeKey(err)]++
		if !v.sleep(100*time.Millisecond + time.Duration(v.rng.Int64N(int64(200*time.Millisecond)))) {
			return
		}
	}
}

// closeKey names how a connection ended: the WebSocket close code, or
// "none" when it broke without a close frame.
func closeKey(err error) string {
	if ce, ok := errors.AsType[*closeError](err); ok {
		return strconv.Itoa(ce.code)
	}
	return "none"
}

func (v *viewer) dial() (*wsConn, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go func() {
		select {
		case <-v.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return dialWS(ctx, v.dialer, v.wsURL, v.token)
}

// sleep waits d, or until the run stops; false when it stopped.
func (v *viewer) sleep(d time.Duration) bool {
	if d <= 0 {
		return !v.isStopping()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-v.stopCh:
		return false
	}
}

func (v *viewer) isStopping() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stopping
}

// attach makes ws the current connection; false when the run stopped.
func (v *viewer) attach(ws *wsConn) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopping {
		return false
	}
	v.ws = ws
	return true
}

func (v *viewer) detach() (planned, stopping bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	planned, stopping = v.planned, v.stopping
	v.ws, v.planned = nil, false
	return planned, stopping
}

// drop closes the connection at once, without a close frame, as a lost
// network would; the viewer reconnects after reconnectPause.
func (v *viewer) drop() {
	v.mu.Lock()
	ws := v.ws
	if ws == nil || v.stopping {
		v.dropsMissed++ // between connections, or the run is over
		v.mu.Unlock()
		return
	}
	v.planned = true
	v.mu.Unlock()
	ws.shutdown()
}

// stop ends the viewer: a normal close of its connection.
func (v *viewer) stop(now bool) {
	v.mu.Lock()
	v.stopping = true
	ws := v.ws
	v.mu.Unlock()
	if ws == nil {
		return
	}
	if now {
		ws.shutdown()
		return
	}
	// A paused viewer reads again, to see the server's answer.
	ws.resume()
	_ = ws.write(websocket.OpClose, websocket.ClosePayload(websocket.StatusNormalClosure, "bench done"))
}

// session serves one connection on a poller until it ends.
func (v *viewer) session(ws *wsConn, rest []byte) error {
	v.t.connected(time.Now().UnixNano())
	ws.v = v
	v.ps.pick().register(ws, rest)
	return <-ws.done
}

// message handles one WebSocket message, on the connection's poller; an
// error ends the connection.
func (v *viewer) message(ws *wsConn, op websocket.OpCode, msg []byte, now int64) error {
	if op != websocket.OpText {
		v.t.stats.ProtocolErrors++
		v.t.fail("binary message")
		return nil
	}
	if err := v.handle(ws, msg, now); err != nil {
		return err
	}
	if v.t.subbed {
		v.signalReady()
	}
	if v.slow && !v.paused {
		v.maybePause(ws, now)
	}
	return nil
}

func (v *viewer) handle(ws *wsConn, msg []byte, now int64) error {
	var err error
	splitFrames(msg, func(line []byte) bool {
		switch v.t.handle(line, now) {
		case actSubscribe:
			err = ws.write(websocket.OpText, v.t.subscribeMsg())
		case actClose:
			err = errGiveUp
		}
		return err == nil
	})
	return err
}

// maybePause stops reading for slowPause once the slow moment came.
func (v *viewer) maybePause(ws *wsConn, now int64) {
	start := v.shared.publishStart.Load()
	if start == 0 || now < start+int64(v.slowAt) {
		return
	}
	v.paused = true
	t0 := time.Now()
	ws.pause(v.slowPause, func() { v.pausedFor.Store(int64(time.Since(t0))) })
}

// viewerDialer returns a dialer whose connections leave from the local
// address ip (any port), and, when rcvbuf > 0, have a receive buffer that
// small (a slow viewer's, so that not reading backs up into the server
// rather than into the kernel).
func viewerDialer(ip net.IP, rcvbuf int) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	if rcvbuf > 0 {
		// Set before the connection is made, so that the window it
		// announces is already that small.
		d.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setRcvBuf(fd, rcvbuf) }); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("set SO_RCVBUF: %w", serr)
			}
			return nil
		}
	}
	return d
}
