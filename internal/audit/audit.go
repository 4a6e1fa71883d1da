package audit

import (
	"context"
	"time"

	"github.com/ashreports/ashreports/internal/access"
)

// Entry is one line of the audit log. Callers never put a secret in it
// (passwords, token secrets, session ids).
type Entry struct {
	ID        int64
	OrgID     string // "" for events outside any organization (a failed login)
	At        time.Time
	ActorKind string // "user", "token", "anonymous", "cli", "server"
	ActorID   string
	Action    string // e.g. "login", "login_failed", "role_set", "token_used", "denied"
	Target    string // what the action was on: a dashboard, chart, user or token id
	Outcome   string // "ok" or "denied"
	Detail    string // a short text: the reason of a denial, the role given
	IP        string
}

// Denial is the entry of a denial of who doing p on target (a dashboard
// or chart id), with the reason access.Decide gave.
func Denial(who access.Subject, p access.Permission, target, reason string) Entry {
	return Entry{OrgID: who.OrgID, ActorKind: who.Kind.String(), ActorID: who.ID, Action: "denied", Target: target, Outcome: "denied", Detail: string(p) + ": " + reason}
}

// Change is one saved change of a dashboard's chart, from the audit log.
type Change struct {
	At      time.Time
	UserID  string
	Name    string // the user's name (or the part of their email before the @; their id if they are gone)
	ChartID string
	What    string
}

type ipKey struct{}

// WithIP returns ctx carrying the client address of the request it
// serves, which the entries recorded for it then name.
func WithIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// IPFrom is the client address ctx carries; "" when none.
func IPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(ipKey{}).(string)
	return ip
}
