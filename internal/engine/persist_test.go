package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/wait"
)

func withStates(s *fakeStates, flush time.Duration) func(*Config) {
	return func(c *Config) {
		c.States = s
		c.FlushInterval = flush
	}
}

var ordersColumns = []chart.Column{{Name: "t", Type: chart.Time}, {Name: "n", Type: chart.Number}}

// savedOrders is a saved state of the orders chart whose config is older
// than its definition.
const savedOrders = `{
	"config": {"type": "bar", "title": "Old title", "encoding": {"x": "t", "y": "n"}},
	"data": {"columns": [{"name": "t", "type": "time"}, {"name": "n", "type": "number"}], "rows": [["2024-01-01", 1], ["2024-01-02", 2]]}
}`

func TestRestoresSavedState(t *testing.T) {
	states := &fakeStates{LoadStateFn: func(_ context.Context, id string) (SavedState, bool, error) {
		if id != "orders" {
			return SavedState{}, false, nil
		}
		return SavedState{Offset: 41, State: []byte(savedOrders)}, true, nil
	}}
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil, withStates(states, time.Hour))
	ctx := context.Background()

	st, off, err := e.State(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := chart.State{
		Config: ordersChart().Config, // the definition wins over the saved config
		Data:   chart.Table{Columns: ordersColumns, Rows: [][]any{{"2024-01-01", 1.0}, {"2024-01-02", 2.0}}},
	}
	if d := cmp.Diff(want, st); d != "" {
		t.Errorf("restored state (-want +got):\n%s", d)
	}
	if off != 41 {
		t.Errorf("restored offset %d, want 41", off)
	}

	_, off, err = e.Apply(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-03", 3.0}}}, Normal)
	if err != nil || off != 42 {
		t.Fatalf("Apply after restoring = offset %d, %v; want 42", off, err)
	}
	if _, off, _ := e.Snapshot("orders"); off != 42 {
		t.Errorf("snapshot offset %d, want 42", off)
	}
	if d := cmp.Diff([]string{"orders"}, states.Loads()); d != "" {
		t.Errorf("loads (-want +got): a stream is restored once\n%s", d)
	}
}

func TestRestoreStartsEmptyWhenSavedDataDoesNotFit(t *testing.T) {
	tests := []struct {
		name  string
		saved string
		log   string
	}{
		{
			name:  "unreadable",
			saved: `{"data": [`,
			log:   "saved chart state unreadable; starting empty",
		},
		{
			name:  "a column that no longer fits the encoding",
			saved: `{"config": {}, "data": {"columns": [{"name": "t", "type": "time"}, {"name": "n", "type": "string"}], "rows": [["2024-01-01", "one"]]}}`,
			log:   "saved chart data does not fit the chart's definition; starting empty",
		},
		{
			name:  "a value that is not valid",
			saved: `{"config": {}, "data": {"columns": [{"name": "t", "type": "time"}, {"name": "n", "type": "number"}], "rows": [["yesterday", 1]]}}`,
			log:   "saved chart data does not fit the chart's definition; starting empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states := &fakeStates{LoadStateFn: func(context.Context, string) (SavedState, bool, error) {
				return SavedState{Offset: 9, State: []byte(tt.saved)}, true, nil
			}}
			e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil, withStates(states, time.Hour))
			if _, _, err := e.State(context.Background(), "orders"); err != nil {
				t.Fatal(err)
			}
			snap, off, err := e.Snapshot("orders")
			if err != nil {
				t.Fatal(err)
			}
			want := jsonValue(t, `{
				"config": {"type": "line", "title": "Orders", "encoding": {"x": "t", "y": "n"}, "key": ["t"]},
				"data": {"columns": [], "rows": []}
			}`)
			if d := cmp.Diff(want, decode(t, snap)["state"]); d != "" {
				t.Errorf("state (-want +got):\n%s", d)
			}
			if off != 9 {
				// Offsets never go back: the broker's history holds them.
				t.Errorf("offset %d, want 9, the saved one", off)
			}
			var logged bool
			for _, r := range e.log.Records(t) {
				if r["msg"] == tt.log && r["level"] == "WARN" && r["chart"] == "orders" {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no warning %q for chart orders in %v", tt.log, e.log.Records(t))
			}
		})
	}
}

func TestRestoreErrorIsReturned(t *testing.T) {
	broken := errors.New("disk on fire")
	var mu sync.Mutex
	fail := true
	states := &fakeStates{LoadStateFn: func(context.Context, string) (SavedState, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return SavedState{}, false, broken
		}
		return SavedState{}, false, nil
	}}
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil, withStates(states, time.Hour))
	ctx := context.Background()
	op := chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: ordersColumns, Rows: [][]any{}}}

	_, off, err := e.Apply(ctx, "orders", op, Normal)
	if !errors.Is(err, broken) || off != 0 {
		t.Fatalf("Apply = offset %d, %v; want the load error", off, err)
	}
	if n := len(e.broker.Published()); n != 0 {
		t.Errorf("%d publishes", n)
	}
	// The stream was not kept half-made: the next call loads again.
	if _, off, err := e.Apply(ctx, "orders", op, Normal); err != nil || off != 1 {
		t.Errorf("Apply after the load error = offset %d, %v; want 1", off, err)
	}
	if n := len(states.Loads()); n != 2 {
		t.Errorf("%d loads, want 2", n)
	}
}

func TestCloseSavesChangedPushedStates(t *testing.T) {
	states := &fakeStates{}
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(1), nil
	}}
	idle := ordersChart()
	idle.ID = "idle"
	// An hour: only Close saves.
	e := newEnv(t, fakeDefinitions{"orders": ordersChart(), "idle": idle, "sales": salesChart(time.Hour)}, q, withStates(states, time.Hour))
	ctx := context.Background()

	for _, op := range []chart.Op{
		{Kind: chart.OpReplace, Data: &chart.Table{Columns: ordersColumns, Rows: [][]any{{"2024-01-01", 1.0}}}},
		{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-02", 2.0}}},
	} {
		if _, _, err := e.Apply(ctx, "orders", op, Normal); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.State(ctx, "idle"); err != nil { // looked up, never changed
		t.Fatal(err)
	}
	for _, f := range []map[string]string{nil, {"region": "EU"}} { // query streams change, but are not saved
		st, err := e.Acquire(ctx, "sales", f)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Release(st.ID)
	}
	if n := len(states.Saves()); n != 0 {
		t.Fatalf("%d saves before Close with an hour's flush interval", n)
	}
	wantState, _, err := e.State(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}

	e.Close()
	saves := states.Saves()
	if len(saves) != 1 {
		t.Fatalf("%d saves at Close, want 1: %v", len(saves), saves)
	}
	saved, ok := saves[0]["orders"]
	if len(saves[0]) != 1 || !ok {
		t.Fatalf("saved charts %v, want orders only", slices.Sorted(maps.Keys(saves[0])))
	}
	if saved.Offset != 2 {
		t.Errorf("saved offset %d, want 2", saved.Offset)
	}
	var got chart.State
	if err := json.Unmarshal(saved.State, &got); err != nil {
		t.Fatalf("saved state %s: %v", saved.State, err)
	}
	if d := cmp.Diff(wantState, got); d != "" {
		t.Errorf("saved state (-want +got):\n%s", d)
	}
	loads := slices.Sorted(slices.Values(states.Loads()))
	if d := cmp.Diff([]string{"idle", "orders"}, loads); d != "" {
		t.Errorf("loads (-want +got): only pushed charts' unfiltered streams are restored\n%s", d)
	}
}

func TestCloseWithoutChangesSavesNothing(t *testing.T) {
	states := &fakeStates{LoadStateFn: func(context.Context, string) (SavedState, bool, error) {
		return SavedState{Offset: 41, State: []byte(savedOrders)}, true, nil
	}}
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil, withStates(states, time.Hour))
	if _, _, err := e.State(context.Background(), "orders"); err != nil { // restored, not changed
		t.Fatal(err)
	}
	e.Close()
	if saves := states.Saves(); len(saves) != 0 {
		t.Errorf("saves %v, want none", saves)
	}
}

func TestFlushSavesPeriodicallyAndRetries(t *testing.T) {
	const interval = 10 * time.Millisecond
	var mu sync.Mutex
	failed := false
	states := &fakeStates{SaveStatesFn: func(context.Context, map[string]SavedState) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed {
			failed = true
			return errors.New("database is locked")
		}
		return nil
	}}
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil, withStates(states, interval))
	ctx := context.Background()
	savedAt := func(off uint64) func() error {
		return func() error {
			saves := states.Saves()
			if len(saves) < 2 {
				return fmt.Errorf("%d saves, want a failed one and a later one", len(saves))
			}
			last := saves[len(saves)-1]
			if got, ok := last["orders"]; !ok || got.Offset != off {
				return fmt.Errorf("last save %v, want orders at offset %d", last, off)
			}
			return nil
		}
	}

	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: ordersColumns, Rows: [][]any{}}}, Normal); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, interval, savedAt(1)) // the failed save is tried again
	var logged bool
	for _, r := range e.log.Records(t) {
		if r["msg"] == "save chart states" && r["level"] == "ERROR" {
			logged = true
		}
	}
	if !logged {
		t.Error("the failed save was not logged")
	}

	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-01", 1.0}}}, Normal); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, interval, savedAt(2))

	// Nothing changed since: no more saves across many intervals.
	n := len(states.Saves())
	holdsFor(t, 20*interval, interval, func() error {
		if got := len(states.Saves()); got != n {
			return fmt.Errorf("%d saves without a change, then %d", n, got)
		}
		return nil
	})
}

func TestPushesToAKnownStreamSkipDefinitions(t *testing.T) {
	defs := &countingDefinitions{Definitions: fakeDefinitions{"orders": ordersChart()}}
	e := newEnv(t, nil, nil, func(c *Config) { c.Definitions = defs })
	ctx := context.Background()
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: ordersColumns, Rows: [][]any{}}}, Normal); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-01", float64(i)}}}, Normal); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.State(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if n := defs.Count(); n != 1 {
		t.Errorf("%d definition lookups for one stream, want 1", n)
	}
}
