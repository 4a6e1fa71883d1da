package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run; its JSON form is what `--json` prints.
type Report struct {
	Machine Machine `json:"machine"`
	Date    string  `json:"date"`
	Command string  `json:"command,omitempty"`
	Params  Params  `json:"params"`

	// LatencyMS is publish-to-receive latency of the viewers that are not
	// slow, over every op they applied except those a reconnected viewer
	// caught up with (published before it resubscribed).
	LatencyMS Latency `json:"latency_ms"`
	// Timeline is the same latencies by second of the publish phase (by
	// publish time): ops, how many took over 50 ms, and the largest.
	Timeline []SecondStats `json:"timeline"`
	// Delivered counts the ops viewers applied; Expected the ops of their
	// charts after their first snapshot, up to the chart's final offset.
	Delivered      uint64  `json:"delivered"`
	Expected       uint64  `json:"expected"`
	DeliveredRatio float64 `json:"delivered_ratio"`
	// Converged is true when every viewer ended with exactly the server's
	// state of its chart (offset and data).
	Converged    bool `json:"converged"`
	NotConverged int  `json:"not_converged"`
	// ServerRSSBytesPerConn is (RSS with viewers connected − RSS before)
	// / viewers connected; null when the server's process is not known.
	ServerRSSBytesPerConn *float64 `json:"server_rss_bytes_per_conn"`

	Connect              ConnectReport    `json:"connect"`
	Publish              PublishReport    `json:"publish"`
	Settle               SettleReport     `json:"settle"`
	Errors               ErrorCounts      `json:"errors"`
	Conflations          uint64           `json:"conflations"`
	ConflationSkippedOps uint64           `json:"conflation_skipped_ops"`
	Disconnects          map[string]int   `json:"disconnects"`
	Reconnect            *ReconnectReport `json:"reconnect,omitempty"`
	Slow                 *SlowReport      `json:"slow,omitempty"`
	Server               ServerReport     `json:"server"`
	Bench                BenchReport      `json:"bench"`

	// Pass is false when the run did not converge, or (without slow
	// viewers) lost an op, or saw a duplicated or out-of-order op;
	// Failures says which.
	Pass     bool     `json:"pass"`
	Failures []string `json:"failures"`
	Notes    []string `json:"notes"`
}

// Machine is where the bench ran.
type Machine struct {
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Params are the run's settings.
type Params struct {
	URL             string   `json:"url"`
	SelfStarted     bool     `json:"self_started"`
	Viewers         int      `json:"viewers"`
	Charts          int      `json:"charts"`
	Rate            float64  `json:"rate"`
	DurationS       float64  `json:"duration_s"`
	Ramp            float64  `json:"ramp"`
	ReconnectFrac   float64  `json:"reconnect_frac"`
	ReconnectPauseS float64  `json:"reconnect_pause_s"`
	SlowFrac        float64  `json:"slow_frac"`
	SlowPauseS      float64  `json:"slow_pause_s"`
	SlowRcvBuf      int      `json:"slow_rcvbuf"`
	SettleS         float64  `json:"settle_timeout_s"`
	Publishers      int      `json:"publishers"`
	ViewersPerAddr  int      `json:"viewers_per_addr"`
	SourceAddrs     []string `json:"source_addrs"`
	Seed            uint64   `json:"seed"`
}

// Latency is a distribution in milliseconds.
type Latency struct {
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count uint64  `json:"count"`
}

func latencyOf(h *Histogram) Latency {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Latency{P50: ms(h.Quantile(0.50)), P95: ms(h.Quantile(0.95)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Count: h.Count()}
}

// ConnectReport is the ramp.
type ConnectReport struct {
	Connected    int     `json:"connected"`
	Failed       int     `json:"failed"`
	Seconds      float64 `json:"seconds"`
	DialErrors   int     `json:"dial_errors"`
	FirstFailure string  `json:"first_failure,omitempty"`
}

// PublishReport is the publish phase.
type PublishReport struct {
	TargetRate   float64        `json:"target_rate"`
	Scheduled    int64          `json:"scheduled"`
	OK           int64          `json:"ok"`
	Errors       int64          `json:"errors"`
	ErrorKinds   map[string]int `json:"error_kinds,omitempty"`
	LastError    string         `json:"last_error,omitempty"`
	Seconds      float64        `json:"seconds"`
	AchievedRate float64        `json:"achieved_rate"`
	RequestMS    Latency        `json:"request_ms"`
	FinalOffsets []uint64       `json:"final_offsets,omitempty"`
}

// SettleReport is the wait for viewers to catch up after publishing.
type SettleReport struct {
	Settled   bool    `json:"settled"`
	Seconds   float64 `json:"seconds"`
	Unsettled int     `json:"unsettled"`
}

// ErrorCounts are protocol errors the viewers saw, over all viewers.
type ErrorCounts struct {
	Gaps            uint64   `json:"gaps"`
	Duplicates      uint64   `json:"duplicates"`
	EpochMismatches uint64   `json:"epoch_mismatches"`
	EpochChanges    uint64   `json:"epoch_changes"`
	ApplyErrors     uint64   `json:"apply_errors"`
	DecodeErrors    uint64   `json:"decode_errors"`
	SubscribeErrors uint64   `json:"subscribe_errors"`
	ProtocolErrors  uint64   `json:"protocol_errors"`
	Resyncs         uint64   `json:"resyncs"`
	Examples        []string `json:"examples,omitempty"`
	// NotConvergedExamples describe a few viewers that did not converge.
	NotConvergedExamples []string `json:"not_converged_examples,omitempty"`
}

func (e ErrorCounts) total() uint64 {
	return e.Gaps + e.Duplicates + e.EpochMismatches + e.ApplyErrors + e.DecodeErrors + e.SubscribeErrors + e.ProtocolErrors
}

// ReconnectReport covers the viewers of --reconnect-frac.
type ReconnectReport struct {
	Viewers        int     `json:"viewers"`
	Drops          int     `json:"drops"`
	DropsMissed    int     `json:"drops_missed"`
	Recoveries     uint64  `json:"recoveries"`
	Resumed        uint64  `json:"resumed"`
	Snapshot       uint64  `json:"snapshot"`
	CatchupOps     uint64  `json:"catchup_ops"`
	ResumeRefused  bool    `json:"resume_refused"`
	Converged      int     `json:"converged"`
	DeliveredRatio float64 `json:"delivered_ratio"`
}

// SlowReport covers the viewers of --slow-frac.
type SlowReport struct {
	Viewers              int            `json:"viewers"`
	Paused               int            `json:"paused"`
	PausedS              float64        `json:"paused_s"`
	Conflations          uint64         `json:"conflations"`
	ConflationSkippedOps uint64         `json:"conflation_skipped_ops"`
	Disconnects          map[string]int `json:"disconnects"`
	Converged            bool           `json:"converged"`
	NotConverged         int            `json:"not_converged"`
	DeliveredRatio       float64        `json:"delivered_ratio"`
	LatencyMS            Latency        `json:"latency_ms"`
	// ServerRSSMaxBytes is the server's largest RSS while slow viewers
	// paused; null when the server's process is not known.
	ServerRSSMaxBytes *int64 `json:"server_rss_max_bytes"`
	// OthersDeliveredRatio is the delivered ratio of the viewers that are
	// not slow.
	OthersDeliveredRatio float64 `json:"others_delivered_ratio"`
}

// ServerReport is the server process, when known.
type ServerReport struct {
	PID      *int `json:"pid"`
	RSSBytes struct {
		Before    *int64 `json:"before"`
		Connected *int64 `json:"connected"`
		End       *int64 `json:"end"`
		Max       *int64 `json:"max"`
	} `json:"rss_bytes"`
	RSSBytesPerConn *float64 `json:"rss_bytes_per_conn"`
	// CPUCores is the server's CPU time over the publish phase divided by
	// its wall time.
	CPUCores *float64 `json:"cpu_cores"`
}

// BenchReport is the bench process itself.
type BenchReport struct {
	CPUCores float64 `json:"cpu_cores"`
	RSSBytes int64   `json:"rss_bytes"`
}

func newReport(cfg Config) *Report {
	r := &Report{
		Machine: Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH},
		Date:    time.Now().UTC().Format(time.RFC3339),
		Params: Params{
			URL: cfg.URL, SelfStarted: cfg.SelfStarted, Viewers: cfg.Viewers, Charts: cfg.Charts, Rate: cfg.Rate,
			DurationS: cfg.Duration.Seconds(), Ramp: cfg.Ramp,
			ReconnectFrac: cfg.ReconnectFrac, ReconnectPauseS: cfg.ReconnectPause.Seconds(),
			SlowFrac: cfg.SlowFrac, SlowPauseS: cfg.SlowPause.Seconds(), SlowRcvBuf: cfg.SlowRcvBuf,
			SettleS: cfg.Settle.Seconds(), Publishers: cfg.Publishers, ViewersPerAddr: cfg.ViewersPerAddr,
			SourceAddrs: []string{}, Seed: cfg.Seed,
		},
		Disconnects: map[string]int{},
		Failures:    []string{},
		Notes:       []string{},
	}
	if cfg.ServerPID != 0 {
		pid := cfg.ServerPID
		r.Server.PID = &pid
	}
	return r
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Report) setPublish(cfg Config, ps publishStats, p *publisher) {
	secs := ps.End.Sub(ps.Start).Seconds()
	r.Publish = PublishReport{
		TargetRate: cfg.Rate, Scheduled: ps.Scheduled, OK: ps.OK, Errors: ps.Errors,
		Seconds: secs, RequestMS: latencyOf(&p.rtt),
	}
	if secs > 0 {
		r.Publish.AchievedRate = float64(ps.OK) / secs
	}
	p.mu.Lock()
	if len(p.errKind) > 0 {
		r.Publish.ErrorKinds = maps.Clone(p.errKind)
		r.Publish.LastError = p.lastErr
	}
	p.mu.Unlock()
	if want := int64(cfg.Rate*cfg.Duration.Seconds() + 0.5); ps.Scheduled < want {
		r.note("the publisher sent %d of the %d ops the rate asks for: the server (or the bench) could not keep up", ps.Scheduled, want)
	}
}

func (r *Report) setRSS(samples []rssSample, viewers []*viewer, start time.Time, cfg Config) {
	rs := &r.Server.RSSBytes
	maxOf := func(from, to time.Time) *int64 {
		var m *int64
		for _, s := range samples {
			if s.at.Before(from) || s.at.After(to) {
				continue
			}
			if m == nil || s.rss > *m {
				v := s.rss
				m = &v
			}
		}
		return m
	}
	rs.Max = maxOf(time.Time{}, time.Now())
	for _, v := range []*int64{rs.Before, rs.Connected, rs.End} {
		if v != nil && (rs.Max == nil || *v > *rs.Max) {
			m := *v
			rs.Max = &m
		}
	}
	if rs.Before != nil && rs.Connected != nil && r.Connect.Connected > 0 {
		per := float64(*rs.Connected-*rs.Before) / float64(r.Connect.Connected)
		r.Server.RSSBytesPerConn = &per
		r.ServerRSSBytesPerConn = &per
	}
	if cfg.SlowFrac > 0 {
		first, last := time.Time{}, time.Time{}
		for _, v := range viewers {
			if !v.slow {
				continue
			}
			from, to := start.Add(v.slowAt), start.Add(v.slowAt+cfg.SlowPause)
			if first.IsZero() || from.Before(first) {
				first = from
			}
			if to.After(last) {
				last = to
			}
		}
		r.Slow = &SlowReport{ServerRSSMaxBytes: maxOf(first, last)}
	}
}

// groupSums adds up a group of viewers.
type groupSums struct {
	viewers, converged     int
	delivered, expected    uint64
	conflations, confSkips uint64
	disconnects            map[string]int
}

func (g *groupSums) ratio() float64 {
	if g.expected == 0 {
		return 1
	}
	return float64(g.delivered) / float64(g.expected)
}

func (r *Report) evaluate(cfg Config, viewers []*viewer, finals []serverChart, steady, slow *Histogram, resumeRefused bool) {
	eq := compareStates(viewers, finals)
	var all, slowG, recG, others groupSums
	for _, g := range []*groupSums{&all, &slowG, &recG, &others} {
		g.disconnects = map[string]int{}
	}
	var rec ReconnectReport
	var slowPaused int
	var slowPausedFor time.Duration
	for i, v := range viewers {
		st := &v.t.stats
		groups := []*groupSums{&all}
		switch {
		case v.slow:
			groups = append(groups, &slowG)
			if v.paused {
				slowPaused++
				slowPausedFor += time.Duration(v.pausedFor.Load())
			}
		case v.reconnect:
			groups = append(groups, &recG, &others)
		default:
			groups = append(groups, &others)
		}
		if !eq[i] && len(r.Errors.NotConvergedExamples) < 5 {
			r.Errors.NotConvergedExamples = append(r.Errors.NotConvergedExamples, describeDiff(v, finals[v.chart]))
		}
		var expected uint64
		if v.t.have && finals[v.chart].Offset > v.t.base {
			expected = finals[v.chart].Offset - v.t.base
		}
		for _, g := range groups {
			g.viewers++
			if eq[i] {
				g.converged++
			}
			g.delivered += st.Received
			g.expected += expected
			g.conflations += st.Conflations
			g.confSkips += st.ConflationSkips
			for k, n := range v.closeCodes {
				g.disconnects[k] += n
			}
		}
		e := &r.Errors
		e.Gaps += st.Gaps
		e.Duplicates += st.Duplicates
		e.EpochMismatches += st.EpochMismatches
		e.EpochChanges += st.EpochChanges
		e.ApplyErrors += st.ApplyErrors
		e.DecodeErrors += st.DecodeErrors
		e.SubscribeErrors += st.SubscribeErrors
		e.ProtocolErrors += st.ProtocolErrors
		e.Resyncs += st.Resyncs
		if st.ProtocolError != "" && len(e.Examples) < 3 {
			e.Examples = append(e.Examples, fmt.Sprintf("viewer %d (%s): %s", v.id, ChartID(v.chart), st.ProtocolError))
		}
		if st.LastError != "" && st.LastError != st.ProtocolError && len(e.Examples) < 5 {
			e.Examples = append(e.Examples, fmt.Sprintf("viewer %d (%s): %s", v.id, ChartID(v.chart), st.LastError))
		}
		if v.failed != "" && len(e.Examples) < 5 {
			e.Examples = append(e.Examples, fmt.Sprintf("viewer %d gave up: %s", v.id, v.failed))
		}
		r.Connect.DialErrors += v.dialErrors
		if v.reconnect {
			rec.Viewers++
			rec.Drops += v.plannedDrops
			v.mu.Lock()
			rec.DropsMissed += v.dropsMissed
			v.mu.Unlock()
			rec.add(st)
		}
	}
	r.Delivered, r.Expected, r.DeliveredRatio = all.delivered, all.expected, all.ratio()
	r.NotConverged = all.viewers - all.converged
	r.Converged = r.NotConverged == 0 && len(viewers) > 0
	r.Conflations, r.ConflationSkippedOps = all.conflations, all.confSkips
	r.Disconnects = all.disconnects
	r.LatencyMS = latencyOf(steady)
	for _, f := range finals {
		r.Publish.FinalOffsets = append(r.Publish.FinalOffsets, f.Offset)
	}
	if rec.Viewers > 0 {
		rec.ResumeRefused = resumeRefused
		rec.Converged = recG.converged
		rec.DeliveredRatio = recG.ratio()
		rec.Recoveries = rec.Resumed + rec.Snapshot
		r.Reconnect = &rec
		if resumeRefused {
			r.note("the server refused resuming (subscribe with offset and epoch): reconnected viewers fell back to snapshots, and the ops those skipped count as not delivered")
		}
	}
	if slowG.viewers > 0 {
		if r.Slow == nil {
			r.Slow = &SlowReport{}
		}
		s := r.Slow
		s.Viewers, s.Paused = slowG.viewers, slowPaused
		if slowPaused > 0 {
			s.PausedS = slowPausedFor.Seconds() / float64(slowPaused)
		}
		s.Conflations, s.ConflationSkippedOps = slowG.conflations, slowG.confSkips
		s.Disconnects = slowG.disconnects
		s.NotConverged = slowG.viewers - slowG.converged
		s.Converged = s.NotConverged == 0
		s.DeliveredRatio = slowG.ratio()
		s.OthersDeliveredRatio = others.ratio()
		s.LatencyMS = latencyOf(slow)
		if cfg.SlowRcvBuf > 0 {
			r.note("slow viewers' sockets have a %d-byte receive buffer, so that pausing backs frames up into the server", cfg.SlowRcvBuf)
		}
	} else {
		r.Slow = nil
	}

	// Verdict.
	if !r.Converged {
		r.fail("%d of %d viewers did not end with the server's state", r.NotConverged, len(viewers))
	}
	if cfg.SlowFrac == 0 && r.DeliveredRatio < 1 {
		r.fail("delivered %d of %d expected ops (ratio %.6f)", r.Delivered, r.Expected, r.DeliveredRatio)
	}
	if cfg.SlowFrac > 0 && others.ratio() < 1 {
		r.fail("viewers that are not slow got %d of %d expected ops", others.delivered, others.expected)
	}
	if n := r.Errors.Duplicates + r.Errors.Gaps + r.Errors.EpochMismatches + r.Errors.ApplyErrors + r.Errors.DecodeErrors + r.Errors.ProtocolErrors; n > 0 {
		r.fail("%d protocol errors (gaps, duplicates, bad frames)", n)
	}
	if r.Connect.Failed > 0 {
		r.fail("%d viewers could not connect and subscribe", r.Connect.Failed)
	}
	if r.Publish.Errors > 0 {
		r.fail("%d publish requests failed", r.Publish.Errors)
	}
	r.Pass = len(r.Failures) == 0
}

// describeDiff says how a viewer's end state differs from the server's.
func describeDiff(v *viewer, f serverChart) string {
	role := "viewer"
	switch {
	case v.slow:
		role = "slow viewer"
	case v.reconnect:
		role = "reconnecting viewer"
	}
	t := v.t
	switch {
	case v.failed != "":
		return fmt.Sprintf("%s %d (%s) gave up: %s", role, v.id, t.chart, v.failed)
	case !t.have:
		return fmt.Sprintf("%s %d (%s) never got a snapshot", role, v.id, t.chart)
	case t.pendingRef != "":
		return fmt.Sprintf("%s %d (%s) holds offset %d of %d, waiting for the reply to a subscribe", role, v.id, t.chart, t.off, f.Offset)
	case t.off < f.Offset:
		return fmt.Sprintf("%s %d (%s) holds offset %d of %d: %d ops behind when the settle time ran out", role, v.id, t.chart, t.off, f.Offset, f.Offset-t.off)
	case t.off > f.Offset:
		return fmt.Sprintf("%s %d (%s) holds offset %d, past the server's %d", role, v.id, t.chart, t.off, f.Offset)
	}
	return fmt.Sprintf("%s %d (%s) holds offset %d like the server, but other rows (%d rows, server %d)", role, v.id, t.chart, t.off, len(t.state.Data.Rows), len(f.State.Data.Rows))
}

// add adds a reconnecting viewer's recoveries.
func (rr *ReconnectReport) add(st *trackerStats) {
	rr.Resumed += st.Resumed
	rr.Snapshot += st.SnapshotRecov
	rr.CatchupOps += st.Catchup
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a table.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	p := r.Params
	row("AshReports bench", "%s", r.Date)
	if r.Command != "" {
		row("command", "%s", r.Command)
	}
	row("machine", "%d cores, %s %s/%s", r.Machine.Cores, r.Machine.GoVersion, r.Machine.OS, r.Machine.Arch)
	srv := p.URL
	if p.SelfStarted {
		srv += " (started by the bench"
		if r.Server.PID != nil {
			srv += fmt.Sprintf(", pid %d", *r.Server.PID)
		}
		srv += ")"
	} else if r.Server.PID != nil {
		srv += fmt.Sprintf(" (pid %d)", *r.Server.PID)
	}
	row("server", "%s", srv)
	row("parameters", "%d viewers, %d charts, %g ops/s for %gs, ramp %g/s, %d publishers, seed %d",
		p.Viewers, p.Charts, p.Rate, p.DurationS, p.Ramp, p.Publishers, p.Seed)
	if p.ReconnectFrac > 0 || p.SlowFrac > 0 {
		row("", "reconnect-frac %g (pause %gs), slow-frac %g (pause %gs)", p.ReconnectFrac, p.ReconnectPauseS, p.SlowFrac, p.SlowPauseS)
	}
	if len(p.SourceAddrs) > 0 {
		row("source addresses", "%s (%d viewers each at most)", strings.Join(p.SourceAddrs, ", "), p.ViewersPerAddr)
	}
	row("connect", "%d subscribed in %.2f s, %d failed, %d dial errors", r.Connect.Connected, r.Connect.Seconds, r.Connect.Failed, r.Connect.DialErrors)
	pb := r.Publish
	row("publish", "%d ops in %.2f s = %.1f/s (target %g/s), %d errors; request p50 %.2f ms, p99 %.2f ms",
		pb.OK, pb.Seconds, pb.AchievedRate, pb.TargetRate, pb.Errors, pb.RequestMS.P50, pb.RequestMS.P99)
	l := r.LatencyMS
	who := "all viewers"
	if r.Slow != nil {
		who = "viewers that are not slow"
	}
	row("latency", "p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  (%d ops, %s)", l.P50, l.P95, l.P99, l.Max, l.Count, who)
	row("seconds > 50 ms", "%s", slowSeconds(r.Timeline, 10))
	row("delivered", "%d / %d expected (ratio %.6f)", r.Delivered, r.Expected, r.DeliveredRatio)
	conv := "yes"
	if !r.Converged {
		conv = fmt.Sprintf("NO: %d viewers differ from the server", r.NotConverged)
	}
	row("converged", "%s (settled: %v in %.2f s)", conv, r.Settle.Settled, r.Settle.Seconds)
	e := r.Errors
	row("errors", "gaps %d, duplicates %d, epoch %d, apply %d, decode %d, subscribe %d, protocol %d; resyncs %d",
		e.Gaps, e.Duplicates, e.EpochMismatches, e.ApplyErrors, e.DecodeErrors, e.SubscribeErrors, e.ProtocolErrors, e.Resyncs)
	for _, ex := range e.Examples {
		row("", "%s", ex)
	}
	for _, ex := range e.NotConvergedExamples {
		row("", "not converged: %s", ex)
	}
	row("conflations", "%d (%d ops skipped)", r.Conflations, r.ConflationSkippedOps)
	row("disconnects", "%s", codes(r.Disconnects))
	if rc := r.Reconnect; rc != nil {
		row("reconnect", "%d viewers, %d drops (%d missed): %d resumed, %d by snapshot; %d catch-up ops; %d converged; delivered ratio %.6f",
			rc.Viewers, rc.Drops, rc.DropsMissed, rc.Resumed, rc.Snapshot, rc.CatchupOps, rc.Converged, rc.DeliveredRatio)
	}
	if s := r.Slow; s != nil {
		row("slow", "%d viewers, %d paused (%.1f s): %d conflations (%d ops skipped), disconnects %s, converged %v (%d not), delivered ratio %.6f",
			s.Viewers, s.Paused, s.PausedS, s.Conflations, s.ConflationSkippedOps, codes(s.Disconnects), s.Converged, s.NotConverged, s.DeliveredRatio)
		row("slow latency", "p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  (%d ops)", s.LatencyMS.P50, s.LatencyMS.P95, s.LatencyMS.P99, s.LatencyMS.Max, s.LatencyMS.Count)
		row("", "server RSS max during the pauses: %s", bytesOrNA(s.ServerRSSMaxBytes))
	}
	rs := r.Server.RSSBytes
	per := "n/a"
	if r.ServerRSSBytesPerConn != nil {
		per = fmt.Sprintf("%.1f KiB", *r.ServerRSSBytesPerConn/1024)
	}
	row("server RSS", "before %s, connected %s, end %s, max %s; per connection %s",
		bytesOrNA(rs.Before), bytesOrNA(rs.Connected), bytesOrNA(rs.End), bytesOrNA(rs.Max), per)
	cpu := "server n/a"
	if r.Server.CPUCores != nil {
		cpu = fmt.Sprintf("server %.2f cores", *r.Server.CPUCores)
	}
	row("CPU (publish)", "%s, bench %.2f cores (bench RSS %s)", cpu, r.Bench.CPUCores, bytesOrNA(&r.Bench.RSSBytes))
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	if r.Pass {
		row("result", "PASS")
	} else {
		row("result", "FAIL: %s", strings.Join(r.Failures, "; "))
	}
	return tw.Flush()
}

func codes(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		switch k {
		case "1008":
			name = "1008 slow consumer/policy"
		case "1001":
			name = "1001 going away"
		case "1011":
			name = "1011 internal error"
		case "none":
			name = "no close frame"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

func bytesOrNA(v *int64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(*v)/(1<<20))
}
