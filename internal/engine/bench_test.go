package engine

import (
	"context"
	"testing"

	"github.com/ashreports/ashreports/chart"
)

// BenchmarkApply is the engine's part of one push: validate and apply the
// op on a copy, encode its frame once, publish (to a broker that does
// nothing), commit.
func BenchmarkApply(b *testing.B) {
	e := New(Config{Broker: &fakeBroker{PublishFn: func(context.Context, string, uint64, []byte) error { return nil }}, Definitions: fakeDefinitions{"orders": ordersChart()}})
	defer e.Close()
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.String}, {Name: "n", Type: chart.Number}}
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{}}}, Normal); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		op := chart.Op{Kind: chart.OpUpsert, Rows: [][]any{{"k", float64(i)}}}
		if _, _, err := e.Apply(ctx, "orders", op, Normal); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeFrame encodes one op frame, which happens once per op
// whatever the number of viewers.
func BenchmarkEncodeFrame(b *testing.B) {
	f := opFrame{Type: "op", Stream: "orders", Chart: "orders", Epoch: "0123456789ab", Offset: 42, TS: 1764150000000,
		Op: chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2026-11-26T12:00:00Z", 42.5}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(f); err != nil {
			b.Fatal(err)
		}
	}
}
