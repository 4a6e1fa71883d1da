package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/websocket"
)

type subjectKey struct{}

// WithSubject returns ctx carrying who, the subject a connection belongs
// to as the web layer found it before the handshake, for the hub's
// ServeHTTP: its session's connection limit is enforced there.
func WithSubject(ctx context.Context, who access.Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, who)
}

func subjectFrom(ctx context.Context) access.Subject {
	who, _ := ctx.Value(subjectKey{}).(access.Subject)
	return who
}

// Authorizer decides whether who may do p on a chart (see access.Decide);
// the hub asks it on every subscribe and publish, and again for every
// subscription when access changes (Recheck). A chart that does not exist
// (any more) has access.ErrNoResource in its error's chain.
type Authorizer func(ctx context.Context, who access.Subject, p access.Permission, chartID string) error

// authorize asks the hub's Authorizer; without one everything is allowed
// (a hub in a unit test).
func (h *Hub) authorize(ctx context.Context, who access.Subject, p access.Permission, chartID string) error {
	if h.cfg.Authorize == nil {
		return nil
	}
	return h.cfg.Authorize(ctx, who, p, chartID)
}

// admit counts a new connection of who's session, refusing it (with a
// JSON error, before the handshake) past the session's limit.
func (h *Hub) admit(w http.ResponseWriter, who access.Subject) bool {
	if who.Session == "" {
		return true
	}
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	if who.MaxConns > 0 && h.sessions[who.Session] >= who.MaxConns {
		b, _ := json.Marshal(map[string]any{"error": apperr.Body{Code: apperr.RateLimited, Message: fmt.Sprintf("this session already has %d live connections, its limit: close a tab or sign in again", who.MaxConns)}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(b)
		return false
	}
	h.sessions[who.Session]++
	return true
}

// leave uncounts a connection of the session.
func (h *Hub) leave(who access.Subject) {
	if who.Session == "" {
		return
	}
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	if h.sessions[who.Session]--; h.sessions[who.Session] <= 0 {
		delete(h.sessions, who.Session)
	}
}

// EndSession closes, at once, every connection of the session whose hash
// is given (sign-out, revocation).
func (h *Hub) EndSession(session string) {
	for _, c := range h.liveConns() {
		if c.subject().Session == session {
			go c.close(websocket.StatusPolicyViolation, "signed out")
		}
	}
}

// Recheck asks refresh for the current subject of every connection, then
// the Authorizer about each chart it views; a connection whose identity
// ended, or that lost the right to view one of its charts, is closed
// (1008, "access changed"): its viewer reconnects and is refused what it
// may no longer see. Call it when roles, tokens or sessions change.
func (h *Hub) Recheck(ctx context.Context, refresh func(access.Subject) (access.Subject, error)) {
	for _, c := range h.liveConns() {
		if ctx.Err() != nil { // shutting down: the sockets close anyway
			return
		}
		who, charts := c.subject(), c.viewing()
		sub, err := refresh(who)
		if err == nil {
			for _, ch := range charts {
				// A chart removed from its dashboard takes no updates
				// any more, and its viewers' pages drop it.
				if err = h.authorize(ctx, sub, access.ViewCharts, ch); err != nil && !errors.Is(err, access.ErrNoResource) {
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
		c.who = sub
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

func (c *conn) subject() access.Subject {
	c.whoMu.Lock()
	defer c.whoMu.Unlock()
	return c.who
}

// viewing returns the charts the connection subscribes to.
func (c *conn) viewing() []string {
	c.whoMu.Lock()
	defer c.whoMu.Unlock()
	charts := make([]string, len(c.subs))
	for i, s := range c.subs {
		charts[i] = s.chart
	}
	return charts
}
