package live

import (
	"context"
	"fmt"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
)

// Rooms is presence and activity on dashboards (package room) for the
// connections that join one: a dashboard page joins its dashboard's room.
// A connection is in one room at most, named by its id.
type Rooms interface {
	// Join authorizes who on the dashboard and puts the connection in its
	// room; send gets the room's presence and activity frames.
	Join(ctx context.Context, who access.Subject, dashboard, connID string, send func([]byte)) error
	// Leave takes the connection out of its room, if it is in one.
	Leave(connID string)
	// Allowed reports whether who may still be in the dashboard's room,
	// when access changes (Recheck).
	Allowed(ctx context.Context, who access.Subject, dashboard string) error
	// Focus says what the connection looks at ("" for nothing) and
	// whether its user edits it, once checked: a chart of the room's
	// dashboard, and editing for those who may.
	Focus(ctx context.Context, who access.Subject, connID, chart string, editing bool) error
	// Filtered tells the room that the connection's user set filters on
	// their own view, once checked against the dashboard's filters.
	Filtered(ctx context.Context, who access.Subject, connID string, filters map[string]string) error
}

// maxFilters bounds the filters of one filter message.
const maxFilters = 16

// The least time between a connection's focus messages, and between its
// filter messages: each reaches every member of the room.
const (
	focusEvery  = 100 * time.Millisecond
	filterEvery = time.Second
	joinEvery   = time.Second
)

func (c *conn) join(m clientMsg) {
	if c.hub.cfg.Rooms == nil {
		c.reply(m.Ref, nil, apperr.Errorf(apperr.Unsupported, "this server has no rooms"))
		return
	}
	if m.Dashboard == "" {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "dashboard", Message: "required"})
		return
	}
	if err := c.roomPace(2, joinEvery); err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	c.leave()
	ctx, cancel := context.WithTimeout(c.hub.ctx, 10*time.Second)
	defer cancel()
	if err := c.hub.cfg.Rooms.Join(ctx, c.subject(), m.Dashboard, c.id, c.send); err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	c.whoMu.Lock()
	c.roomDash = m.Dashboard
	c.whoMu.Unlock()
	c.reply(m.Ref, map[string]any{"dashboard": m.Dashboard}, nil)
}

// leave takes the connection out of its room, if any.
func (c *conn) leave() {
	if c.inRoom() == "" {
		return
	}
	c.hub.cfg.Rooms.Leave(c.id)
	c.whoMu.Lock()
	c.roomDash = ""
	c.whoMu.Unlock()
}

func (c *conn) inRoom() string {
	c.whoMu.Lock()
	defer c.whoMu.Unlock()
	return c.roomDash
}

// roomMessage handles focus, filter and leave, which need a room.
func (c *conn) roomMessage(m clientMsg) {
	if c.inRoom() == "" {
		c.reply(m.Ref, nil, apperr.Errorf(apperr.Invalid, "join a dashboard first"))
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 10*time.Second)
	defer cancel()
	var err error
	switch m.Type {
	case "leave":
		if err = c.roomPace(2, joinEvery); err == nil {
			c.leave()
		}
	case "focus":
		if err = c.roomPace(0, focusEvery); err == nil {
			err = c.hub.cfg.Rooms.Focus(ctx, c.subject(), c.id, m.Chart, m.Editing)
		}
	case "filter":
		if len(m.Filters) > maxFilters {
			err = &apperr.Error{Code: apperr.Invalid, Field: "filters", Message: fmt.Sprintf("more than %d filters", maxFilters)}
			break
		}
		if err = c.roomPace(1, filterEvery); err == nil {
			err = c.hub.cfg.Rooms.Filtered(ctx, c.subject(), c.id, m.Filters)
		}
	}
	c.reply(m.Ref, nil, err)
}

// roomPace refuses a room message of kind i sent sooner than every after
// the last one.
func (c *conn) roomPace(i int, every time.Duration) error {
	now := time.Now().UnixNano()
	if now-c.roomLast[i] < int64(every) {
		return apperr.Errorf(apperr.RateLimited, "at most one such message every %s", every)
	}
	c.roomLast[i] = now
	return nil
}
