package live

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/websocket"
)

func (c *conn) handle(data []byte) {
	m, err := decodeMessage(data)
	if err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	switch m.Type {
	case "subscribe":
		c.subscribe(m)
	case "unsubscribe":
		c.unsubscribe(m)
	case "publish":
		c.publish(m)
	case "ping":
		c.reply(m.Ref, nil, nil)
	case "join":
		c.join(m)
	case "focus", "filter", "leave":
		c.roomMessage(m)
	case "":
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "type", Message: "required"})
	default:
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "type", Message: fmt.Sprintf("unknown message type %q (want subscribe, unsubscribe, publish, ping, join, focus, filter or leave)", m.Type)})
	}
}

func (c *conn) subscribe(m clientMsg) {
	if m.Chart == "" {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: "required"})
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 15*time.Second)
	defer cancel()
	c.whoMu.Lock()
	sub, gen := c.who, c.whoGen
	c.whoMu.Unlock()
	if err := c.hub.authorize(ctx, sub, access.ViewCharts, m.Chart); err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	s, err := c.hub.cfg.Streams.Acquire(ctx, m.Chart, m.Filters)
	if err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	again := slices.ContainsFunc(c.subs, func(x subscription) bool { return x.stream == s.ID })
	if again {
		c.hub.cfg.Streams.Release(s.ID) // one hold per stream per connection
	} else if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.hub.cfg.Streams.Release(s.ID)
		c.reply(m.Ref, nil, apperr.Errorf(apperr.Invalid, "a connection holds at most %d subscriptions", c.hub.cfg.MaxSubscriptions))
		return
	}
	var from *resume
	if m.Offset != nil {
		from = &resume{epoch: m.Epoch, offset: *m.Offset}
	}
	resumed, err := c.hub.subscribe(c, s, again, from)
	if err != nil {
		if !again {
			c.hub.cfg.Streams.Release(s.ID)
		}
		c.reply(m.Ref, nil, err)
		return
	}
	if !again {
		c.hub.cfg.Metrics.Subscriptions.Inc()
	}
	if !again {
		c.whoMu.Lock()
		c.subs = append(c.subs, subscription{s.ID, s.ChartID})
		c.whoMu.Unlock()
	}
	// A Recheck that ran meanwhile did not see this chart: check it with
	// the subject that Recheck left.
	c.whoMu.Lock()
	moved, sub := c.whoGen != gen, c.who
	c.whoMu.Unlock()
	if moved {
		if err := c.hub.authorize(ctx, sub, access.ViewCharts, m.Chart); err != nil {
			go c.close(websocket.StatusPolicyViolation, "access changed")
			return
		}
	}
	c.reply(m.Ref, map[string]any{"stream": s.ID, "resumed": resumed}, nil)
}

func (c *conn) unsubscribe(m clientMsg) {
	i := slices.IndexFunc(c.subs, func(x subscription) bool { return x.stream == m.Stream })
	if i < 0 {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.NotFound, Field: "stream", Message: fmt.Sprintf("not subscribed to stream %q", m.Stream)})
		return
	}
	c.whoMu.Lock()
	c.subs = slices.Delete(c.subs, i, i+1)
	c.whoMu.Unlock()
	c.hub.cfg.Metrics.Subscriptions.Dec()
	c.hub.unsubscribe(c, m.Stream)
	c.push(item{stream: m.Stream, kind: forget})
	c.hub.cfg.Streams.Release(m.Stream)
	c.reply(m.Ref, nil, nil)
}

func (c *conn) publish(m clientMsg) {
	if m.Chart == "" {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: "required"})
		return
	}
	if len(m.Op) == 0 {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "op", Message: "required"})
		return
	}
	pri, err := engine.ParsePriority(m.Priority)
	if err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	op, err := chart.ParseOp(m.Op)
	if err != nil {
		c.reply(m.Ref, nil, underOp(err))
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 10*time.Second)
	defer cancel()
	if err := c.hub.authorize(ctx, c.subject(), access.PublishData, m.Chart); err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	s, off, err := c.hub.cfg.Streams.Apply(ctx, m.Chart, op, pri)
	if err != nil {
		c.reply(m.Ref, nil, underOp(err))
		return
	}
	c.reply(m.Ref, map[string]any{"stream": s.ID, "offset": off}, nil)
}

// underOp places a chart validation error's field under "op".
func underOp(err error) error { return chart.Under("op", err) }

// reply queues the reply to a client message: ok with extra fields, or
// the error in the protocol's error shape.
func (c *conn) reply(ref string, fields map[string]any, err error) {
	msg := map[string]any{"type": "reply", "ref": ref, "ok": err == nil}
	for k, v := range fields {
		msg[k] = v
	}
	if err != nil {
		if apperr.CodeOf(err) == apperr.Internal {
			c.hub.cfg.Logger.Error("live message", "conn", c.id, "err", err)
		}
		msg["error"] = apperr.BodyOf(err)
	}
	b, _ := json.Marshal(msg)
	c.send(b)
}
