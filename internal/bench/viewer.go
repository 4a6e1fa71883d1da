package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
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

// readBuffers hold messages while they are handled, so that an idle viewer
// holds no buffer.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

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
	client *http.Client
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
	ws       *websocket.Conn
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
	pausedFor     time.Duration
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
		ws, err := v.dial()
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
			ws.CloseNow()
			return
		}
		err = v.session(ws)
		planned, stopping := v.detach()
		if stopping {
			return // the stopper closes ws
		}
		ws.CloseNow()
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
	if c := websocket.CloseStatus(err); c != -1 {
		return strconv.Itoa(int(c))
	}
	return "none"
}

func (v *viewer) dial() (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go func() {
		select {
		case <-v.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	ws, _, err := websocket.Dial(ctx, v.wsURL, &websocket.DialOptions{HTTPClient: v.client})
	return ws, err
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
func (v *viewer) attach(ws *websocket.Conn) bool {
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
	ws.CloseNow()
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
		ws.CloseNow()
		return
	}
	_ = ws.Close(websocket.StatusNormalClosure, "bench done")
}

// session reads one connection until it ends.
func (v *viewer) session(ws *websocket.Conn) error {
	ws.SetReadLimit(64 << 20)
	v.t.connected(time.Now().UnixNano())
	for {
		typ, r, err := ws.Reader(context.Background())
		if err != nil {
			return err
		}
		buf := readBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		now := time.Now().UnixNano()
		if err == nil && typ != websocket.MessageText {
			v.t.stats.ProtocolErrors++
			v.t.fail("binary message")
		} else if err == nil {
			err = v.handle(ws, buf.Bytes(), now)
		}
		if buf.Cap() <= 1<<20 {
			readBuffers.Put(buf)
		}
		if err != nil {
			return err
		}
		if v.t.subbed {
			v.signalReady()
		}
		if v.slow && !v.paused {
			v.maybePause(now)
		}
	}
}

func (v *viewer) handle(ws *websocket.Conn, msg []byte, now int64) error {
	var err error
	splitFrames(msg, func(line []byte) bool {
		switch v.t.handle(line, now) {
		case actSubscribe:
			err = v.write(ws, v.t.subscribeMsg())
		case actClose:
			err = errGiveUp
		}
		return err == nil
	})
	return err
}

func (v *viewer) write(ws *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, msg)
}

// maybePause stops reading for slowPause once the slow moment came.
func (v *viewer) maybePause(now int64) {
	start := v.shared.publishStart.Load()
	if start == 0 || now < start+int64(v.slowAt) {
		return
	}
	v.paused = true
	t0 := time.Now()
	v.sleep(v.slowPause)
	v.pausedFor = time.Since(t0)
}

// viewerClient returns an HTTP client whose connections leave from the
// local address ip (any port), and, when rcvbuf > 0, have a receive buffer
// that small (a slow viewer's, so that not reading backs up into the
// server rather than into the kernel).
func viewerClient(ip net.IP, rcvbuf int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	if rcvbuf > 0 {
		d.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("set SO_RCVBUF: %w", serr)
			}
			return nil
		}
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}
