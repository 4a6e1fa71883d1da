package chart

import (
	"fmt"
	"testing"
)

func benchState(rows int) State {
	s := State{
		Config: Config{Type: Line, Title: "t", Encoding: Encoding{X: "k", Y: "v"}, Key: []string{"k"}, Retention: rows},
		Data:   Table{Columns: []Column{{"k", String}, {"v", Number}}},
	}
	for i := range rows {
		s.Data.Rows = append(s.Data.Rows, []any{fmt.Sprint(i), float64(i)})
	}
	return s
}

// BenchmarkApplyAppend appends one row to a full 1,000-row chart, which
// drops the oldest.
func BenchmarkApplyAppend(b *testing.B) {
	s := benchState(1000)
	op := Op{Kind: OpAppend, Rows: [][]any{{"new", 1.0}}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Apply(op); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyUpsert replaces one row by key in a 1,000-row chart.
func BenchmarkApplyUpsert(b *testing.B) {
	s := benchState(1000)
	op := Op{Kind: OpUpsert, Rows: [][]any{{"500", 1.0}}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Apply(op); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseOp decodes and checks a one-row append as sent over HTTP.
func BenchmarkParseOp(b *testing.B) {
	data := []byte(`{"op":"append","rows":[["2026-11-26T12:00:00Z",42.5]]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseOp(data); err != nil {
			b.Fatal(err)
		}
	}
}
