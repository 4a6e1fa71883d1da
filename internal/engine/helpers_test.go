package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/logtest"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/leaktest"
)

// TestMain fails the package's tests if any of them leaves a query loop
// running.
func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}

// published is one call of Broker.Publish.
type published struct {
	Subject string
	Offset  uint64
	Frame   []byte
}

// fakeBroker records every publish, which is its history; PublishFn,
// when set, decides its result, and StoredFn the result of the wait for
// its store.
type fakeBroker struct {
	PublishFn func(ctx context.Context, subject string, offset uint64, frame []byte) error
	StoredFn  func(ctx context.Context, subject string, offset uint64) error

	mu  sync.Mutex
	got []published
}

func (b *fakeBroker) Publish(ctx context.Context, subject string, offset uint64, frame []byte, high bool) (func(context.Context) error, error) {
	if b.PublishFn != nil {
		if err := b.PublishFn(ctx, subject, offset, frame); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	b.got = append(b.got, published{Subject: subject, Offset: offset, Frame: bytes.Clone(frame)})
	b.mu.Unlock()
	return func(ctx context.Context) error {
		if b.StoredFn != nil {
			return b.StoredFn(ctx, subject, offset)
		}
		return nil
	}, nil
}

func (b *fakeBroker) History(ctx context.Context, subject string, fn func(offset uint64, frame []byte) error) error {
	for _, p := range b.Published() {
		if p.Subject == subject {
			if err := fn(p.Offset, p.Frame); err != nil {
				return err
			}
		}
	}
	return nil
}

// Published returns a copy of the publishes so far.
func (b *fakeBroker) Published() []published {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]published(nil), b.got...)
}

// fakeDefinitions serves chart definitions from a map.
type fakeDefinitions map[string]dashboard.Chart

func (f fakeDefinitions) Chart(_ context.Context, id string) (dashboard.Chart, error) {
	c, ok := f[id]
	if !ok {
		return dashboard.Chart{}, apperr.Errorf(apperr.NotFound, "no chart %q", id)
	}
	return c, nil
}

// countingDefinitions counts the lookups it passes on.
type countingDefinitions struct {
	Definitions
	mu sync.Mutex
	n  int
}

func (c *countingDefinitions) Chart(ctx context.Context, id string) (dashboard.Chart, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Definitions.Chart(ctx, id)
}

func (c *countingDefinitions) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// fakeStates records loads and saves of chart states. LoadStateFn, when
// set, answers loads (none saved otherwise); SaveStatesFn, when set,
// decides the result of a save, which is recorded either way.
type fakeStates struct {
	LoadStateFn  func(ctx context.Context, chartID string) (SavedState, bool, error)
	SaveStatesFn func(ctx context.Context, states map[string]SavedState) error

	mu    sync.Mutex
	loads []string
	saves []map[string]SavedState
}

func (f *fakeStates) LoadState(ctx context.Context, chartID string) (SavedState, bool, error) {
	f.mu.Lock()
	f.loads = append(f.loads, chartID)
	f.mu.Unlock()
	if f.LoadStateFn == nil {
		return SavedState{}, false, nil
	}
	return f.LoadStateFn(ctx, chartID)
}

func (f *fakeStates) SaveStates(ctx context.Context, states map[string]SavedState) error {
	f.mu.Lock()
	f.saves = append(f.saves, maps.Clone(states))
	f.mu.Unlock()
	if f.SaveStatesFn == nil {
		return nil
	}
	return f.SaveStatesFn(ctx, states)
}

func (f *fakeStates) Loads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.loads...)
}

func (f *fakeStates) Saves() []map[string]SavedState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]SavedState(nil), f.saves...)
}

// queryCall is one call of Querier.Query.
type queryCall struct {
	Source string
	SQL    string
	Params map[string]string
}

// fakeQuerier counts and records its calls and answers with QueryFn.
type fakeQuerier struct {
	QueryFn func(ctx context.Context, source, sql string, params map[string]string) (chart.Table, error)

	mu    sync.Mutex
	calls []queryCall
}

func (q *fakeQuerier) Query(ctx context.Context, source, sql string, params map[string]string) (chart.Table, error) {
	q.mu.Lock()
	q.calls = append(q.calls, queryCall{Source: source, SQL: sql, Params: maps.Clone(params)})
	q.mu.Unlock()
	return q.QueryFn(ctx, source, sql, params)
}

func (q *fakeQuerier) Calls() []queryCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queryCall(nil), q.calls...)
}

func (q *fakeQuerier) Count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.calls)
}

// result is what a stepped query returns.
type result struct {
	table chart.Table
	err   error
}

// steppedQuerier returns a querier whose every call waits for the test to
// hand it a result on the returned channel, or for its context to end.
func steppedQuerier() (*fakeQuerier, chan result) {
	results := make(chan result)
	q := &fakeQuerier{QueryFn: func(ctx context.Context, _, _ string, _ map[string]string) (chart.Table, error) {
		select {
		case r := <-results:
			return r.table, r.err
		case <-ctx.Done():
			return chart.Table{}, ctx.Err()
		}
	}}
	return q, results
}

// give hands r to the next call of a stepped querier. Since a query loop
// runs one query at a time, when give returns the loop has finished the
// refresh of every earlier result.
func give(t *testing.T, results chan<- result, r result) {
	t.Helper()
	select {
	case results <- r:
	case <-time.After(10 * time.Second):
		t.Fatal("the query loop did not run a query within 10s")
	}
}

// receive waits up to 10s for a value from ch; what names the value.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		panic("unreachable")
	}
}

// giveAsync hands r to the next call of a stepped querier from another
// goroutine, for the first query that Acquire waits for.
func giveAsync(t *testing.T, results chan<- result, r result) {
	ctx := t.Context()
	go func() {
		select {
		case results <- r:
		case <-ctx.Done():
		}
	}()
}

// env is an engine wired to fakes, closed when the test ends.
type env struct {
	*Engine
	broker  *fakeBroker
	querier *fakeQuerier
	log     *logtest.Buffer
	now     time.Time
}

func newEnv(t *testing.T, defs fakeDefinitions, q *fakeQuerier, opts ...func(*Config)) *env {
	t.Helper()
	if q == nil {
		q = &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
			t.Error("unexpected query")
			return chart.Table{}, fmt.Errorf("unexpected query")
		}}
	}
	ev := &env{
		broker:  &fakeBroker{},
		querier: q,
		log:     &logtest.Buffer{},
		now:     time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
	}
	cfg := Config{
		Broker:      ev.broker,
		Definitions: defs,
		Querier:     q,
		Logger:      slog.New(slog.NewJSONHandler(ev.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         func() time.Time { return ev.now },
	}
	for _, o := range opts {
		o(&cfg)
	}
	ev.Engine = New(cfg)
	t.Cleanup(ev.Close)
	return ev
}

// holdsFor calls fn every step for total, failing the test as soon as it
// returns an error.
func holdsFor(t *testing.T, total, step time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(step)
	}
}

// ordersChart is a push chart (no query) keyed by time.
func ordersChart() dashboard.Chart {
	return dashboard.Chart{
		ID:    "orders",
		Width: 6,
		Config: chart.Config{
			Type:     chart.Line,
			Title:    "Orders",
			Encoding: chart.Encoding{X: "t", Y: "n"},
			Key:      []string{"t"},
		},
	}
}

// salesChart is a SQL-bound bar chart with two parameters.
func salesChart(interval time.Duration) dashboard.Chart {
	return dashboard.Chart{
		ID:     "sales",
		Width:  6,
		Config: chart.Config{Type: chart.Bar, Title: "Sales", Encoding: chart.Encoding{X: "region", Y: "total"}},
		Query: &dashboard.Query{
			Source: "shop",
			SQL:    "SELECT region, total FROM totals WHERE (:region = '' OR region = :region) LIMIT :limit",
			Params: map[string]dashboard.Param{
				"region": {Default: ""},
				"limit":  {Default: "10"},
			},
			Interval: dashboard.Duration(interval),
		},
	}
}

// salesTable returns a fresh table that fits salesChart.
func salesTable(totals ...float64) chart.Table {
	t := chart.Table{
		Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "total", Type: chart.Number}},
		Rows:    [][]any{},
	}
	for i, v := range totals {
		t.Rows = append(t.Rows, []any{fmt.Sprintf("R%d", i), v})
	}
	return t
}

// decode decodes a frame as generic JSON.
func decode(t *testing.T, frame []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(frame, &m); err != nil {
		t.Fatalf("frame %s is not a JSON object: %v", frame, err)
	}
	return m
}

// jsonValue decodes a JSON literal written in a test.
func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test %s: %v", s, err)
	}
	return v
}
