package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// jsonRowsBytes is what rows take inside a JSON array, as the live
// protocol encodes them (no HTML escaping): each row and its comma.
func jsonRowsBytes(t *testing.T, rows [][]any) int {
	t.Helper()
	if len(rows) == 0 {
		return 0
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rows); err != nil {
		t.Fatal(err)
	}
	return b.Len() - len("[]\n") + 1
}

func TestRowsBytesIsTheJSONSize(t *testing.T) {
	rows := [][]any{
		{},
		{nil, true, false},
		{0.0, -0.5, 1e6, 1e20, 1e21, 1e-6, 1e-7, -1.5e-300, 123456789.125, 1.7976931348623157e308},
		{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f"},
		{"é, 日本, 🙂", "\u2028\u2029", "bad \xff\xfe utf-8", "<b>&</b>"},
	}
	for _, r := range rows {
		if got, want := rowsBytes([][]any{r}), jsonRowsBytes(t, [][]any{r}); got != want {
			t.Errorf("rowsBytes(%q) = %d, want %d", r, got, want)
		}
	}
	if got, want := rowsBytes(rows), jsonRowsBytes(t, rows); got != want {
		t.Errorf("rowsBytes(all) = %d, want %d", got, want)
	}
}

// budgetState is a pushed chart keyed by k, with a budget of max bytes.
func budgetState(max int, rows ...[]any) Sized {
	return NewSized(State{
		Config: Config{Type: Bar, Title: "T", Encoding: Encoding{X: "k", Y: "v"}, Key: []string{"k"}, MaxBytes: max},
		Data:   Table{Columns: []Column{{"k", String}, {"v", Number}}, Rows: rows},
	})
}

// row is a row of about n bytes as JSON.
func row(k string, n int) []any { return []any{k + strings.Repeat("x", n), 1.0} }

func wantBudgetError(t *testing.T, err error, budget int) {
	t.Helper()
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *BudgetError", err)
	}
	if be.Budget != budget || be.Bytes <= budget {
		t.Fatalf("BudgetError = %+v, want budget %d and more bytes than it", be, budget)
	}
	if !strings.Contains(be.Error(), fmt.Sprint(budget)) || !strings.Contains(be.Error(), "max_bytes") {
		t.Errorf("message %q does not name the budget and its setting", be.Error())
	}
}

func TestBudgetRefusesWhatWouldPassIt(t *testing.T) {
	s := budgetState(1000)
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatalf("100 appends of about 100 bytes taken: %d bytes, over the budget of 1000", s.Bytes())
		}
		before := copyState(t, s.State)
		err := s.Apply(Op{Kind: OpAppend, Rows: [][]any{row(fmt.Sprint(i), 90)}})
		if err == nil {
			if s.Bytes() > 1000 {
				t.Fatalf("append %d took the rows to %d bytes, over the budget", i, s.Bytes())
			}
			continue
		}
		wantBudgetError(t, err, 1000)
		wantUnchangedByOp(t, before, s.State)
		if i < 9 {
			t.Fatalf("refused at append %d, when 10 of about 100 bytes fit", i)
		}
		break
	}
	if err := s.Check(Op{Kind: OpReplace, Data: &Table{Columns: s.Data.Columns, Rows: [][]any{row("a", 2000)}}}); err == nil {
		t.Fatal("a replace over the budget was taken")
	}
	if err := s.Check(Op{Kind: OpUpsert, Rows: [][]any{row("new", 200)}}); err == nil {
		t.Fatal("an upsert of a new row over the budget was taken")
	}
}

func TestBudgetTakesWhatStaysUnderIt(t *testing.T) {
	// A full chart: upserts that replace rows of the same size, and
	// appends whose retention drops as much as they add.
	s := budgetState(1000)
	for i := range 9 {
		if err := s.Apply(Op{Kind: OpAppend, Rows: [][]any{row(fmt.Sprint(i), 90)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Apply(Op{Kind: OpUpsert, Rows: [][]any{{"3" + strings.Repeat("x", 90), 2.0}}}); err != nil {
		t.Errorf("an upsert replacing a row of the same size: %v", err)
	}
	c := s.Config
	c.Retention = 9
	if err := s.Apply(Op{Kind: OpConfig, Config: &c}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := s.Apply(Op{Kind: OpAppend, Rows: [][]any{row(fmt.Sprint(i), 90)}}); err != nil {
			t.Fatalf("append %d, dropping as much as it adds: %v", i, err)
		}
	}
	if got, want := s.Bytes(), rowsBytes(s.Data.Rows); got != want || got > 1000 {
		t.Errorf("Bytes() = %d, rows take %d, budget 1000", got, want)
	}
}

func TestBudgetLetsAChartOverItShrink(t *testing.T) {
	// A state from before a lower budget: more is refused, less taken.
	s := budgetState(500, row("a", 400), row("b", 400))
	if err := s.Check(Op{Kind: OpAppend, Rows: [][]any{row("c", 1)}}); err == nil {
		t.Error("an append to a chart over its budget was taken")
	}
	if err := s.Apply(Op{Kind: OpRemove, Keys: [][]any{{"a" + strings.Repeat("x", 400)}}}); err != nil {
		t.Errorf("a remove: %v", err)
	}
	if err := s.Apply(Op{Kind: OpReplace, Data: &Table{Columns: s.Data.Columns, Rows: [][]any{row("d", 450)}}}); err != nil {
		t.Errorf("a replace smaller than the rows: %v", err)
	}
}

func TestSizedKeepsCountThroughEveryOp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := budgetState(MaxMaxBytes)
	key := func() string { return fmt.Sprint(r.IntN(50)) }
	for i := range 2000 {
		var op Op
		rows := func() [][]any {
			out := make([][]any, r.IntN(8))
			for j := range out {
				out[j] = []any{key(), float64(r.IntN(1e6)) / 7}
			}
			return out
		}
		switch r.IntN(6) {
		case 0:
			rs := rows()
			rs = rs[:min(len(rs), s.retention())]
			op = Op{Kind: OpReplace, Data: &Table{Columns: s.Data.Columns, Rows: rs}}
		case 1, 2:
			op = Op{Kind: OpAppend, Rows: rows()}
		case 3:
			op = Op{Kind: OpUpsert, Rows: rows()}
		case 4:
			op = Op{Kind: OpRemove, Keys: [][]any{{key()}, {key()}}}
		case 5:
			c := s.Config
			c.Retention = 1 + r.IntN(40)
			op = Op{Kind: OpConfig, Config: &c}
		}
		if err := s.Apply(op); err != nil {
			t.Fatalf("op %d (%s): %v", i, op.Kind, err)
		}
		if got, want := s.Bytes(), jsonRowsBytes(t, s.Data.Rows); got != want {
			t.Fatalf("after op %d (%s): Bytes() = %d, the rows take %d", i, op.Kind, got, want)
		}
	}
}

func TestConfigBudgetRange(t *testing.T) {
	c := Config{Type: Bar, Title: "T", Encoding: Encoding{X: "k", Y: "v"}}
	for _, n := range []int{-1, MaxMaxBytes + 1} {
		c.MaxBytes = n
		wantFieldError(t, c.Validate(), "max_bytes")
	}
	c.MaxBytes = MaxMaxBytes
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	st := State{Config: c, Data: Table{Columns: []Column{{"k", String}, {"v", Number}}, Rows: [][]any{row("a", 100)}}}
	st.Config.MaxBytes = 50
	wantFieldError(t, st.Validate(), "data.rows")
}
