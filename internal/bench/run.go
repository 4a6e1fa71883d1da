package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ashreports/ashreports/chart"
)

// Config is one bench run. Zero values take the defaults of Main's flags.
type Config struct {
	// URL of the server, http://host:port. Its charts bench-0 … must exist
	// (Dashboards).
	URL string
	// ServerPID, when not 0, is the server's process, whose memory and CPU
	// the report then gives (it must run on this machine).
	ServerPID int
	// SelfStarted says the bench started the server (for the report).
	SelfStarted bool
	// Token is the API token the publishers and viewers send (scopes
	// publish_data and view_charts on the bench charts).
	Token string

	Viewers  int
	Charts   int
	Rate     float64       // ops per second, over all charts; 0: viewers stay idle
	Duration time.Duration // of the publish phase
	Ramp     float64       // viewers connected per second

	ReconnectFrac  float64       // viewers that drop their connection once mid-run
	ReconnectPause time.Duration // before they reconnect
	SlowFrac       float64       // viewers that stop reading once mid-run
	SlowPause      time.Duration // for how long
	SlowRcvBuf     int           // socket receive buffer of slow viewers; 0 leaves the kernel's

	Settle         time.Duration // most time to wait for viewers to catch up after publishing
	ViewersPerAddr int           // viewers per loopback source address
	Publishers     int           // concurrent publish requests; min(Charts, 32) when 0
	Seed           uint64

	// Progress, when not nil, gets a line per phase.
	Progress io.Writer
}

func (c *Config) defaults() {
	if c.Viewers == 0 {
		c.Viewers = 1000
	}
	if c.Charts == 0 {
		c.Charts = 10
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Ramp == 0 {
		c.Ramp = 2000
	}
	if c.ReconnectPause == 0 {
		c.ReconnectPause = 500 * time.Millisecond
	}
	if c.SlowPause == 0 {
		c.SlowPause = 3 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 10 * time.Second
	}
	if c.ViewersPerAddr == 0 {
		c.ViewersPerAddr = 10000
	}
	if c.Publishers == 0 {
		c.Publishers = defaultPublishers(c.Charts, c.Rate)
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
}

// defaultPublishers is enough concurrent requests to hold the rate (a
// request takes a fraction of a millisecond on an idle server, several on
// a busy one): one per chart, at least one per 200 ops/s, at most 32.
func defaultPublishers(charts int, rate float64) int {
	return min(32, max(charts, int(math.Ceil(rate/200)), 1))
}

func (c *Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("no server URL")
	case c.Viewers < 1:
		return errors.New("viewers: must be at least 1")
	case c.Charts < 1:
		return errors.New("charts: must be at least 1")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return errors.New("rate: must be 0 or more")
	case c.Duration < 0:
		return errors.New("duration: must not be negative")
	case c.Ramp <= 0:
		return errors.New("ramp: must be more than 0")
	case c.ReconnectFrac < 0 || c.ReconnectFrac > 1, c.SlowFrac < 0 || c.SlowFrac > 1, c.ReconnectFrac+c.SlowFrac > 1:
		return errors.New("reconnect-frac and slow-frac: each between 0 and 1, and together at most 1")
	case c.ViewersPerAddr < 1 || c.ViewersPerAddr > 28000:
		return errors.New("viewers-per-addr: between 1 and 28000 (the loopback ephemeral ports of one address)")
	case c.Publishers < 1:
		return errors.New("publishers: must be at least 1")
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}

// rssSample is the server's RSS at a moment of the publish phase.
type rssSample struct {
	at  time.Time
	rss int64
}

// Run runs one bench against the server at cfg.URL: it resets the bench
// charts, connects the viewers, publishes for cfg.Duration, waits for the
// viewers to settle, checks every viewer's state against the server's and
// returns the report. Every phase is bounded: it returns within
// about N/ramp + Duration + Settle + a minute, with all its goroutines
// ended.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkOpenFiles(cfg.Viewers); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http://host:port (the bench's viewers do not speak TLS)", cfg.URL)
	}
	base := u.Scheme + "://" + u.Host
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/live"

	rep := newReport(cfg)
	// Source addresses: a loopback server is reached from 127.0.0.1,
	// 127.0.0.2, …, ViewersPerAddr viewers each, as one address has only
	// about 28,000 ephemeral ports.
	var srcIPs []net.IP
	if ip := net.ParseIP(u.Hostname()).To4(); ip != nil && ip.IsLoopback() {
		n := (cfg.Viewers + cfg.ViewersPerAddr - 1) / cfg.ViewersPerAddr
		if n > 254 {
			return nil, fmt.Errorf("%d viewers at %d per address need more than 254 loopback addresses", cfg.Viewers, cfg.ViewersPerAddr)
		}
		for i := range n {
			srcIPs = append(srcIPs, net.IPv4(127, 0, 0, byte(1+i)))
			rep.Params.SourceAddrs = append(rep.Params.SourceAddrs, srcIPs[i].String())
		}
		rep.note("viewers connect from %d loopback source address(es) %s, at most %d each (a source address has about 28,000 ephemeral ports)",
			len(srcIPs), strings.Join(rep.Params.SourceAddrs, ", "), cfg.ViewersPerAddr)
	} else {
		rep.note("the server is not on an IPv4 loopback address: viewers connect from the default source address, so at most about 28,000 of them")
	}

	pub := newPublisher(base, cfg.Token, cfg.Charts, cfg.Publishers)
	defer pub.close()
	cfg.logf("resetting %d charts on %s", cfg.Charts, base)
	if err := pub.setup(ctx, cfg.Publishers); err != nil {
		return nil, err
	}

	pid := cfg.ServerPID
	rss := func() *int64 {
		if pid == 0 {
			return nil
		}
		v, err := procRSS(pid)
		if err != nil {
			rep.note("server RSS: %v", err)
			pid = 0
			return nil
		}
		return &v
	}
	if pid == 0 {
		rep.note("server memory and CPU not measured: give --server-pid (the bench reads /proc/PID of a server on this machine)")
	}
	rep.Server.RSSBytes.Before = rss()

	// Viewers.
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	shared := &runShared{}
	stopCh := make(chan struct{})
	var resumeRefused atomic.Bool
	steady := newShardedHist(16)
	timelines := make([]*timeline, 16)
	for i := range timelines {
		timelines[i] = newTimeline(&shared.publishStart, int(math.Ceil(cfg.Duration.Seconds())))
	}
	caches := make([]*opCache, cfg.Charts)
	for k := range caches {
		caches[k] = new(opCache)
	}
	slowHist := newShardedHist(4)
	polls, err := newPollers(runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	defer polls.close()
	dialers := map[[2]int]*net.Dialer{}
	dialer := func(addr int, slow bool) *net.Dialer {
		k := [2]int{addr, 0}
		if slow {
			k[1] = 1
		}
		if d, ok := dialers[k]; ok {
			return d
		}
		var ip net.IP
		if len(srcIPs) > 0 {
			ip = srcIPs[addr]
		}
		rcv := 0
		if slow {
			rcv = cfg.SlowRcvBuf
		}
		d := viewerDialer(ip, rcv)
		dialers[k] = d
		return d
	}
	nSlow := int(math.Round(float64(cfg.Viewers) * cfg.SlowFrac))
	nRec := int(math.Round(float64(cfg.Viewers) * cfg.ReconnectFrac))
	roles := rng.Perm(cfg.Viewers) // the first nSlow are slow, the next nRec reconnect
	viewers := make([]*viewer, cfg.Viewers)
	for i := range viewers {
		v := &viewer{
			id: i, chart: i % cfg.Charts, wsURL: wsURL, token: cfg.Token, shared: shared, stopCh: stopCh,
			rng:            rand.New(rand.NewPCG(cfg.Seed+uint64(i), uint64(i))),
			reconnectPause: cfg.ReconnectPause, slowPause: cfg.SlowPause,
			ready: make(chan struct{}), closeCodes: map[string]int{},
		}
		addr := 0
		if len(srcIPs) > 0 {
			addr = i / cfg.ViewersPerAddr
		}
		hist := steady.shard(i)
		switch r := roles[i]; {
		case r < nSlow:
			v.slow = true
			v.slowAt = time.Duration((0.2 + 0.2*rng.Float64()) * float64(cfg.Duration))
			hist = slowHist.shard(i)
		case r < nSlow+nRec:
			v.reconnect = true
			v.dropAt = time.Duration((0.2 + 0.6*rng.Float64()) * float64(cfg.Duration))
		}
		v.dialer, v.ps = dialer(addr, v.slow), polls
		v.t = newTracker(ChartID(v.chart), hist, &resumeRefused)
		if !v.slow {
			v.t.tl = timelines[i%len(timelines)]
		}
		v.t.spread = i / cfg.Charts // the copies of one chart get different spreads
		v.t.ops = caches[v.chart]
		viewers[i] = v
	}
	var wg sync.WaitGroup
	stopped := false
	stopViewers := func() error {
		if stopped {
			return nil
		}
		stopped = true
		close(stopCh)
		sem := make(chan struct{}, 256)
		var closers sync.WaitGroup
		for _, v := range viewers {
			sem <- struct{}{}
			closers.Go(func() {
				defer func() { <-sem }()
				v.stop(false)
			})
		}
		closers.Wait()
		if waitTimeout(&wg, 20*time.Second) {
			return nil
		}
		for _, v := range viewers {
			v.stop(true)
		}
		if waitTimeout(&wg, 10*time.Second) {
			return nil
		}
		return errors.New("some viewers did not stop within 30 s")
	}
	defer func() {
		if err := stopViewers(); err != nil {
			cfg.logf("%v", err)
		}
	}()

	cfg.logf("connecting %d viewers at %.0f/s", cfg.Viewers, cfg.Ramp)
	rampStart := time.Now()
	rampPacer := newPacer(rampStart, cfg.Ramp, int64(cfg.Viewers))
	launched := 0
	tick := time.NewTicker(time.Millisecond)
	for launched < cfg.Viewers {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		case now := <-tick.C:
			for n := rampPacer.due(now); n > 0; n-- {
				v := viewers[launched]
				wg.Go(v.run)
				launched++
			}
		}
	}
	tick.Stop()
	readyBy := time.NewTimer(60 * time.Second)
	lastLog := time.Now()
	for i, v := range viewers {
		select {
		case <-v.ready:
		case <-readyBy.C:
			readyBy.Stop()
			return nil, fmt.Errorf("viewers not subscribed 60 s after the ramp: %d of %d are", i, cfg.Viewers)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if time.Since(lastLog) > 5*time.Second {
			cfg.logf("%d of %d viewers subscribed", i, cfg.Viewers)
			lastLog = time.Now()
		}
	}
	readyBy.Stop()
	rep.Connect.Seconds = time.Since(rampStart).Seconds()
	for _, v := range viewers {
		// Read after v.ready: subbed and failed are not written again.
		v.alive = v.t.subbed
		if v.alive {
			rep.Connect.Connected++
		} else {
			rep.Connect.Failed++
			if rep.Connect.FirstFailure == "" {
				rep.Connect.FirstFailure = v.failed
			}
		}
	}
	cfg.logf("%d viewers subscribed in %.1f s (%d failed)", rep.Connect.Connected, rep.Connect.Seconds, rep.Connect.Failed)
	if rep.Connect.Connected == 0 {
		return nil, fmt.Errorf("no viewer could subscribe: %s", rep.Connect.FirstFailure)
	}
	if !sleepUntil(ctx, time.Now().Add(time.Second)) {
		return nil, ctx.Err()
	}
	rep.Server.RSSBytes.Connected = rss()

	// Publish phase.
	cfg.logf("publishing %.0f ops/s over %d charts for %s", cfg.Rate, cfg.Charts, cfg.Duration)
	var samples []rssSample
	sampleDone := make(chan struct{})
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampleDone)
		if pid == 0 {
			return
		}
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case now := <-t.C:
				if v, err := procRSS(pid); err == nil {
					samples = append(samples, rssSample{now, v})
				}
			}
		}
	}()
	var srvCPU0 time.Duration
	if pid != 0 {
		srvCPU0, _ = procCPU(pid)
	}
	selfCPU0 := selfCPU()
	start := time.Now()
	shared.publishStart.Store(start.UnixNano())
	var timers []*time.Timer
	for _, v := range viewers {
		if v.reconnect {
			timers = append(timers, time.AfterFunc(v.dropAt, v.drop))
		}
	}
	ps := pub.run(ctx, cfg.Rate, cfg.Duration, cfg.Publishers, start)
	for _, t := range timers {
		t.Stop()
	}
	wall := time.Since(start)
	if pid != 0 {
		if c, err := procCPU(pid); err == nil {
			cores := (c - srvCPU0).Seconds() / wall.Seconds()
			rep.Server.CPUCores = &cores
		}
	}
	rep.Bench.CPUCores = (selfCPU() - selfCPU0).Seconds() / wall.Seconds()
	rep.setPublish(cfg, ps, pub)
	cfg.logf("published %d ops in %.1f s (%.1f/s), %d errors", ps.OK, ps.End.Sub(ps.Start).Seconds(), rep.Publish.AchievedRate, ps.Errors)
	if ctx.Err() != nil {
		stopSampling()
		<-sampleDone
		return nil, ctx.Err()
	}

	// Final states, then wait for the viewers to catch up with them.
	finals, err := pub.fetchAll(ctx, cfg.Publishers)
	if err != nil {
		stopSampling()
		<-sampleDone
		return nil, err
	}
	for k := range finals {
		if last := pub.last[k].Load(); finals[k].Offset < last {
			rep.note("chart %s: the server says offset %d, below %d it replied to a publish", ChartID(k), finals[k].Offset, last)
		}
	}
	settleFrom := time.Now()
	deadline := settleFrom.Add(cfg.Settle)
	if nSlow > 0 {
		// A slow viewer may still be pausing.
		deadline = deadline.Add(max(0, start.Add(cfg.Duration*2/5+cfg.SlowPause).Sub(settleFrom)))
	}
	unsettled := 0
	for {
		unsettled = 0
		for _, v := range viewers {
			if v.alive {
				if !v.t.settled.Load() || v.t.offset.Load() != finals[v.chart].Offset {
					unsettled++
				}
			}
		}
		if unsettled == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep.Settle.Seconds = time.Since(settleFrom).Seconds()
	rep.Settle.Settled = unsettled == 0
	rep.Settle.Unsettled = unsettled
	rep.Server.RSSBytes.End = rss()
	stopSampling()
	<-sampleDone
	rep.setRSS(samples, viewers, start, cfg)

	cfg.logf("settled=%v after %.1f s; stopping viewers", rep.Settle.Settled, rep.Settle.Seconds)
	if err := stopViewers(); err != nil {
		return nil, err
	}
	rep.Bench.RSSBytes, _ = procRSS(os.Getpid())
	rep.evaluate(cfg, viewers, finals, steady.merged(), slowHist.merged(), resumeRefused.Load())
	rep.Timeline = mergeTimelines(timelines)
	return rep, nil
}

// waitTimeout waits for wg at most d; false when it timed out.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// canonicalState encodes a chart state so that equal states encode equally.
func canonicalState(s chart.State) []byte {
	if s.Data.Columns == nil {
		s.Data.Columns = []chart.Column{}
	}
	if s.Data.Rows == nil {
		s.Data.Rows = [][]any{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return []byte("unencodable: " + err.Error())
	}
	return b.Bytes()
}

// compareStates returns, for every viewer, whether its state equals its
// chart's final state, checked on all cores.
func compareStates(viewers []*viewer, finals []serverChart) []bool {
	want := make([][]byte, len(finals))
	for k := range finals {
		want[k] = canonicalState(finals[k].State)
	}
	eq := make([]bool, len(viewers))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(viewers) {
					return
				}
				v := viewers[i]
				f := finals[v.chart]
				eq[i] = v.t.have && v.t.off == f.Offset && bytes.Equal(canonicalState(v.t.state), want[v.chart])
			}
		})
	}
	wg.Wait()
	return eq
}
