// Package room makes a dashboard a shared room: presence (who is on it,
// with how many tabs, and what chart each is focused on or editing) and
// activity (who changed what, who applied which filter).
//
// Presence lives in a NATS JetStream key-value bucket, one key per
// connection, "<dashboard>.<user>.<connection>", written again every
// Heartbeat and removed by the bucket's TTL when no longer written: a
// connection whose node died leaves within the TTL, and the entries of
// other nodes survive a node's restart. Each node watches the keys of the
// rooms its connections are in and sends each connection the room's
// users, one entry per user however many tabs they have, whenever that
// list changes. Activity goes over core NATS, one subject per room. Gate
// is the rooms as live connections use them, with each message checked
// (who may join, who may say they edit, which filters a dashboard has).
//
// Concurrency: Rooms and Gate are safe for concurrent use. Rooms runs one
// heartbeat goroutine, and one watcher goroutine per room with
// connections on this node; NATS delivers a room's activity on its
// subscription's goroutine. Close stops them and waits. A connection's
// frames (send) are called from those goroutines, never while a Rooms or
// room lock is held but the room's sendMu.
//
// Ordering: a room's frames (presence and activity) reach each of its
// connections in the order the room sends them: they are written under
// the room's sendMu. Presence changes within the Debounce window go out as
// one frame when it ends; a list that did not change is sent only to the
// connections that have not had it. A connection's own writes to the
// bucket are ordered, so that a heartbeat never writes an entry again
// after Leave deleted it.
//
// Lock order: Rooms.mu, then room.mu, then room.sendMu (taken as room.mu
// is released), then a connection's queue; a Handle's io, then its mu
// (Leave takes Rooms.mu and room.mu after both are released); Gate.mu is
// taken alone.
package room
