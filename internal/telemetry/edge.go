package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Edge are the metrics of the HTTP edge: what was refused to clients
// before any account is known.
type Edge struct {
	// ConnsRefused counts connections closed at accept, by the cap they
	// met: "per_addr" or "total".
	ConnsRefused *prometheus.CounterVec
	// HashesRefused counts password hashes refused because too many ran
	// at once (the sign-in got 429).
	HashesRefused prometheus.Counter
}

// NewEdge creates the edge's metrics and registers them with reg.
func NewEdge(reg prometheus.Registerer) *Edge {
	m := &Edge{
		ConnsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ashreports_connections_refused_total", Help: "Connections closed at accept, by the cap they met (per_addr, total)."}, []string{"reason"}),
		HashesRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_password_hashes_refused_total", Help: "Password hashes refused with 429 because too many ran at once."}),
	}
	reg.MustRegister(m.ConnsRefused, m.HashesRefused)
	return m
}
