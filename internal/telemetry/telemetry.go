package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the live engine's metrics.
type Metrics struct {
	Connections   prometheus.Gauge
	Subscriptions prometheus.Gauge
	UpdatesIn     prometheus.Counter
	// UpdatesOut counts op frames written to viewers, one per viewer.
	UpdatesOut prometheus.Counter
	// Messages and BytesOut count WebSocket messages and their bytes
	// written to viewers; a message may batch several frames.
	Messages    prometheus.Counter
	BytesOut    prometheus.Counter
	Snapshots   prometheus.Counter
	Conflations prometheus.Counter
	Resumes     *prometheus.CounterVec
	Disconnects *prometheus.CounterVec
	QueueDepth  prometheus.Histogram
	BatchFrames prometheus.Histogram
	Latency     prometheus.Histogram
	// CompressIn and CompressOut are the bytes of frames compressed for
	// binary viewers, before and after; their ratio is the compression
	// ratio. Each frame is compressed once, whatever its viewers.
	CompressIn    prometheus.Counter
	CompressOut   prometheus.Counter
	QueryRuns     *prometheus.CounterVec
	ActiveQueries prometheus.Gauge
	// UpdatesRefused counts ops refused or left unstored by the engine, by
	// reason: budget (the chart's byte budget), unsaved (too many updates
	// not yet saved), unstored (broadcast, but the broker did not store it).
	UpdatesRefused *prometheus.CounterVec
	// QueriesRunning are the data source queries running now (charts'
	// and previews'); QueryRefusals counts those refused, by the limit
	// that refused them.
	QueriesRunning prometheus.Gauge
	QueryRefusals  *prometheus.CounterVec
}

// New creates the metrics and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ashreports_connections", Help: "Open live WebSocket connections."}),
		Subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ashreports_subscriptions", Help: "Stream subscriptions of the open connections."}),
		UpdatesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_updates_in_total", Help: "Chart ops applied and published (pushes and query results)."}),
		UpdatesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_updates_out_total", Help: "Op frames written to viewers, one per viewer."}),
		Messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_messages_out_total", Help: "WebSocket messages written to viewers (each batches one or more frames)."}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_bytes_out_total", Help: "Bytes of WebSocket messages written to viewers."}),
		Snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_snapshots_out_total", Help: "Snapshot frames written to viewers."}),
		Conflations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_conflations_total", Help: "Times a viewer's pending ops were dropped for a snapshot."}),
		Resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ashreports_resumes_total", Help: "Subscriptions that asked to resume from an offset, by outcome (ops or snapshot)."}, []string{"outcome"}),
		Disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ashreports_disconnects_total", Help: "Closed live connections by reason."}, []string{"reason"}),
		QueueDepth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ashreports_queue_depth", Help: "Frames waiting for a viewer when its writer takes them.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		BatchFrames: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ashreports_batch_frames", Help: "Frames per WebSocket message.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ashreports_delivery_latency_seconds", Help: "Time from an op's publish to its write to a viewer's socket.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}),
		CompressIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_compress_in_bytes_total", Help: "Bytes of frames compressed (once each) for binary viewers."}),
		CompressOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ashreports_compress_out_bytes_total", Help: "Bytes those frames compressed to."}),
		QueryRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ashreports_query_runs_total", Help: "Chart query runs by result (changed, same, error)."}, []string{"result"}),
		ActiveQueries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ashreports_query_loops", Help: "Running chart query loops (one per stream with viewers)."}),
		UpdatesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ashreports_updates_refused_total", Help: "Chart ops refused (budget, unsaved) or broadcast but not stored (unstored)."}, []string{"reason"}),
		QueriesRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ashreports_queries_running", Help: "Data source queries running now."}),
		QueryRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ashreports_query_refusals_total", Help: "Data source queries refused, by limit (running, timeout, columns, rows, cell, value, bytes, denied)."}, []string{"limit"}),
	}
	reg.MustRegister(m.Connections, m.Subscriptions, m.UpdatesIn, m.UpdatesOut, m.Messages, m.BytesOut,
		m.Snapshots, m.Conflations, m.Resumes, m.Disconnects, m.QueueDepth, m.BatchFrames, m.Latency,
		m.CompressIn, m.CompressOut, m.QueryRuns, m.ActiveQueries, m.UpdatesRefused, m.QueriesRunning, m.QueryRefusals)
	return m
}

// Discard returns metrics registered nowhere, for components run without
// a registry (tests, tools).
func Discard() *Metrics { return New(prometheus.NewRegistry()) }
