package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ashreports/ashreports/chart"
)

// ChartID is the id of the i-th bench chart.
func ChartID(i int) string { return "bench-" + strconv.Itoa(i) }

// publisher sends ops to the bench charts through the HTTP update API.
type publisher struct {
	base   string // http://host:port
	token  string // API token, sent as a bearer token when not empty
	charts []string
	client *http.Client

	last []atomic.Uint64 // highest offset replied, per chart
	ok   atomic.Int64
	errs atomic.Int64
	rtt  Histogram // request round trips, ns

	mu      sync.Mutex
	errKind map[string]int
	lastErr string
}

func newPublisher(base, token string, charts int, workers int) *publisher {
	p := &publisher{base: base, token: token, last: make([]atomic.Uint64, charts), errKind: map[string]int{}}
	for i := range charts {
		p.charts = append(p.charts, ChartID(i))
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	p.client = &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        workers + 8,
			MaxIdleConnsPerHost: workers + 8,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	return p
}

func (p *publisher) close() { p.client.CloseIdleConnections() }

// apiError is an error reply of the HTTP API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// authorize adds the API token to req.
func (p *publisher) authorize(req *http.Request) {
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
}

// post sends one op to chart k and returns the offset the server gave it.
func (p *publisher) post(ctx context.Context, k int, body []byte) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/v1/charts/"+p.charts[k]+"/updates", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	p.authorize(req)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	var out struct {
		Offset uint64 `json:"offset"`
		Error  *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("HTTP %d, body %.200q is not JSON", resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Status: resp.StatusCode}
		if out.Error != nil {
			e.Code, e.Message = out.Error.Code, out.Error.Message
		}
		return 0, e
	}
	for {
		m := p.last[k].Load()
		if out.Offset <= m || p.last[k].CompareAndSwap(m, out.Offset) {
			return out.Offset, nil
		}
	}
}

// resetOp empties a bench chart and gives it its columns: seq, and ts, the
// publish time of each row in Unix nanoseconds.
const resetOp = `{"op":"replace","data":{"columns":[{"name":"seq","type":"number"},{"name":"ts","type":"number"}],"rows":[]}}`

// setup resets every bench chart, a few at a time.
func (p *publisher) setup(ctx context.Context, workers int) error {
	errc := make(chan error, len(p.charts))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for k := range p.charts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := p.post(ctx, k, []byte(resetOp)); err != nil {
				if ae, ok := err.(*apiError); ok && ae.Status == http.StatusNotFound {
					err = fmt.Errorf("chart %s does not exist on the server: provision it with the dashboards of `ashreports bench --charts %d --print-dashboard`", p.charts[k], len(p.charts))
				} else {
					err = fmt.Errorf("reset chart %s: %w", p.charts[k], err)
				}
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// publishStats sums up a publish phase.
type publishStats struct {
	Scheduled int64
	OK        int64
	Errors    int64
	Start     time.Time
	End       time.Time // when the last reply came
}

// run publishes rate ops per second for d, round-robin over the charts,
// with workers concurrent requests. Op i goes to chart i mod C and carries
// the row [seq, publish time]. Ops not yet sent when d (plus a little) is
// over are dropped, and the achieved rate says so.
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration, workers int, start time.Time) publishStats {
	total := int64(math.Round(rate * d.Seconds()))
	st := publishStats{Start: start}
	if total <= 0 {
		if !sleepUntil(ctx, start.Add(d)) {
			st.End = time.Now()
			return st
		}
		st.End = time.Now()
		return st
	}
	// Few jobs wait: a publisher that falls behind shows as a lower
	// achieved rate, not as ops sent after the phase.
	jobs := make(chan int64, workers)
	var wg sync.WaitGroup
	c := int64(len(p.charts))
	for range workers {
		wg.Go(func() {
			body := make([]byte, 0, 96)
			for i := range jobs {
				k := int(i % c)
				seq := i/c + 1
				t0 := time.Now()
				body = append(body[:0], `{"op":"append","rows":[[`...)
				body = strconv.AppendInt(body, seq, 10)
				body = append(body, ',')
				body = strconv.AppendInt(body, t0.UnixNano(), 10)
				body = append(body, "]]}"...)
				_, err := p.post(ctx, k, body)
				p.rtt.Record(int64(time.Since(t0)))
				if err != nil {
					p.errs.Add(1)
					p.noteErr(err)
					continue
				}
				p.ok.Add(1)
			}
		})
	}
	pc := newPacer(start, rate, total)
	deadline := time.NewTimer(time.Until(start.Add(d + 100*time.Millisecond)))
	tick := time.NewTicker(time.Millisecond)
	var next int64
loop:
	for !pc.finished() {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline.C:
			break loop
		case now := <-tick.C:
			for n := pc.due(now); n > 0; n-- {
				select {
				case jobs <- next:
					next++
				case <-ctx.Done():
					break loop
				case <-deadline.C:
					break loop
				}
			}
		}
	}
	tick.Stop()
	deadline.Stop()
	close(jobs)
	wg.Wait()
	st.Scheduled, st.OK, st.Errors = next, p.ok.Load(), p.errs.Load()
	st.End = time.Now()
	return st
}

func (p *publisher) noteErr(err error) {
	kind := "network"
	if ae, ok := err.(*apiError); ok {
		kind = strconv.Itoa(ae.Status) + " " + ae.Code
	}
	p.mu.Lock()
	p.errKind[kind]++
	p.lastErr = err.Error()
	p.mu.Unlock()
}

// serverChart is GET /api/v1/charts/{id}.
type serverChart struct {
	Offset uint64      `json:"offset"`
	State  chart.State `json:"state"`
}

func (p *publisher) fetch(ctx context.Context, k int) (serverChart, error) {
	var out serverChart
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/charts/"+p.charts[k], nil)
	if err != nil {
		return out, err
	}
	p.authorize(req)
	resp, err := p.client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return out, fmt.Errorf("GET chart %s: HTTP %d %s", p.charts[k], resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("GET chart %s: %w", p.charts[k], err)
	}
	return out, nil
}

// fetchAll gets every chart's state and offset.
func (p *publisher) fetchAll(ctx context.Context, workers int) ([]serverChart, error) {
	out := make([]serverChart, len(p.charts))
	errs := make([]error, len(p.charts))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for k := range p.charts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[k], errs[k] = p.fetch(ctx, k)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sleepUntil waits until t or ctx ends; false when ctx ended.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
