package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/websocket"
)

// Identity is who a connection belongs to, as the web layer found it
// before the handshake.
type Identity struct {
	Subject access.Subject
	// Session is the hash of the browser session; "" for API tokens.
	Session string
	// MaxConns bounds the live connections of the session; 0: no bound.
	MaxConns int
}

type identityKey struct{}

// WithIdentity returns ctx carrying id, for the hub's ServeHTTP.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

func identityFrom(ctx context.Context) Identity {
	id, _ := ctx.Value(identityKey{}).(Identity)
	return id
}

// ErrNoChart is in the chain of an Authorizer's error when the chart does
// not exist (any more).
var ErrNoChart = errors.New("no such chart")

// Authorizer decides whether who may do p on a chart (see access.Decide);
// the hub asks it on every subscribe and publish, and again for every
// subscription when access changes (Recheck).
type Authorizer func(ctx context.Context, who access.Subject, p access.Permission, chartID string) error

// authorize asks the hub's Authorizer; without one everything is allowed
// (a hub in a unit test).
func (h *Hub) authorize(ctx context.Context, who access.Subject, p access.Permission, chartID string) error {
	if h.cfg.Authorize == nil {
		return nil
	}
	return h.cfg.Authorize(ctx, who, p, chartID)
}

// admit counts a new connection of id's session, refusing it (with a
// JSON error, before the handshake) past the session's limit.
func (h *Hub) admit(w http.ResponseWriter, id Identity) bool {
	if id.Session == "" {
		return true
	}
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	if id.MaxConns > 0 && h.sessions[id.Session] >= id.MaxConns {
		b, _ := json.Marshal(map[string]any{"error": apperr.Body{Code: apperr.RateLimited, Message: fmt.Sprintf("this session already has %d live connections, its limit: close a tab or sign in again", id.MaxConns)}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(b)
		return false
	}
	h.sessions[id.Session]++
	return true
}

// leave uncounts a connection of the session.
func (h *Hub) leave(id Identity) {
	if id.Session == "" {
		return
	}
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	if h.sessions[id.Session]--; h.sessions[id.Session] <= 0 {
		delete(h.sessions, id.Session)
	}
}

// EndSession closes, at once, every connection of the session whose hash
// is given (sign-out, revocation).
func (h *Hub) EndSession(session string) {
	for _, c := range h.liveConns() {
		if c.identity().Session == session {
			go c.close(websocket.StatusPolicyViolation, "signed out")
		}
	}
}

// Recheck asks refresh for the current subject of every connection, then
// the Authorizer about each chart it views; a connection whose identity
// ended, or that lost the right to view one of its charts, is closed
// (1008, "access changed"): its viewer reconnects and is refused what it
// may no longer see. Call it when roles, tokens or sessions change.
func (h *Hub) Recheck(ctx context.Context, refresh func(Identity) (access.Subject, error)) {
	for _, c := range h.liveConns() {
		if ctx.Err() != nil { // shutting down: the sockets close anyway
			return
		}
		id, charts := c.identity(), c.viewing()
		sub, err := refresh(id)
		if err == nil {
			for _, ch := range charts {
				// A chart removed from its dashboard takes no updates
				// any more, and its viewers' pages drop it.
				if err = h.authorize(ctx, sub, access.ViewCharts, ch); err != nil && !errors.Is(err, ErrNoChart) {
					break
				}
				err = nil
			}
		}
		if d := c.inRoom(); err == nil && d != "" && h.cfg.Rooms != nil {
			err = h.cfg.Rooms.Allowed(ctx, sub, d)
		}
		if err != nil {
			if apperr.CodeOf(err) == apperr.Internal {
				h.cfg.Logger.Error("recheck access", "err", err)
				continue
			}
			go c.close(websocket.StatusPolicyViolation, "access changed")
			continue
		}
		c.whoMu.Lock()
		c.who.Subject = sub
		c.whoGen++
		c.whoMu.Unlock()
	}
}

func (h *Hub) liveConns() []*conn {
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	out := make([]*conn, 0, len(h.live))
	for c := range h.live {
		out = append(out, c)
	}
	return out
}

func (c *conn) identity() Identity {
	c.whoMu.Lock()
	defer c.whoMu.Unlock()
	return c.who
}

// viewing returns the charts the connection subscribes to.
func (c *conn) viewing() []string {
	c.whoMu.Lock()
	defer c.whoMu.Unlock()
	return slices.Clone(c.charts)
}
