package chart

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTableValidateColumns(t *testing.T) {
	cols := func(n int) []Column {
		c := make([]Column, n)
		for i := range c {
			c[i] = Column{Name: fmt.Sprintf("c%d", i), Type: Number}
		}
		return c
	}
	tests := []struct {
		name      string
		cols      []Column
		wantField string
	}{
		{name: "one column of each type", cols: []Column{{"s", String}, {"n", Number}, {"t", Time}, {"b", Bool}}},
		{name: "MaxColumns columns", cols: cols(MaxColumns)},
		{name: "name of 64 characters", cols: []Column{{strings.Repeat("a", 64), String}}},
		{name: "name with underscore, digits and capitals", cols: []Column{{"_Sales_2024", String}}},
		{name: "names differing only in case", cols: []Column{{"a", String}, {"A", String}}},

		{name: "nil columns", cols: nil, wantField: "columns"},
		{name: "empty columns", cols: []Column{}, wantField: "columns"},
		{name: "over MaxColumns columns", cols: cols(MaxColumns + 1), wantField: "columns"},
		{name: "empty name", cols: []Column{{"", String}}, wantField: "columns[0].name"},
		{name: "name starting with a digit", cols: []Column{{"a", String}, {"1a", String}}, wantField: "columns[1].name"},
		{name: "name with a dash", cols: []Column{{"a-b", String}}, wantField: "columns[0].name"},
		{name: "name with a space", cols: []Column{{"a b", String}}, wantField: "columns[0].name"},
		{name: "name with a dot", cols: []Column{{"a.b", String}}, wantField: "columns[0].name"},
		{name: "non-ASCII name", cols: []Column{{"région", String}}, wantField: "columns[0].name"},
		{name: "name of 65 characters", cols: []Column{{strings.Repeat("a", 65), String}}, wantField: "columns[0].name"},
		{name: "duplicate name", cols: []Column{{"a", String}, {"b", Number}, {"a", Number}}, wantField: "columns[2].name"},
		{name: "empty type", cols: []Column{{"a", ""}}, wantField: "columns[0].type"},
		{name: "unknown type", cols: []Column{{"a", String}, {"b", "int"}}, wantField: "columns[1].type"},
		{name: "type is case sensitive", cols: []Column{{"a", "Number"}}, wantField: "columns[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := Table{Columns: tt.cols}
			err := tb.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantFieldError(t, err, tt.wantField)
		})
	}
}

func TestTableValidateValues(t *testing.T) {
	// Each case puts value v in column 1 (of type typ) of row 3, after three
	// good rows, so a failure must be reported at rows[3][1].
	tests := []struct {
		name string
		typ  ColumnType
		v    any
		want any // the value after validation, when valid
		bad  bool
	}{
		{name: "number float64", typ: Number, v: 1.5, want: 1.5},
		{name: "number negative zero is zero", typ: Number, v: math.Copysign(0, -1), want: 0.0},
		{name: "number largest float64", typ: Number, v: math.MaxFloat64, want: math.MaxFloat64},
		{name: "number float32", typ: Number, v: float32(0.5), want: 0.5},
		{name: "number int", typ: Number, v: 42, want: 42.0},
		{name: "number int64", typ: Number, v: int64(-7), want: -7.0},
		{name: "number int32", typ: Number, v: int32(9), want: 9.0},
		{name: "number uint64", typ: Number, v: uint64(1 << 40), want: float64(1 << 40)},
		{name: "number null", typ: Number, v: nil, want: nil},
		{name: "number NaN", typ: Number, v: math.NaN(), bad: true},
		{name: "number +Inf", typ: Number, v: math.Inf(1), bad: true},
		{name: "number -Inf", typ: Number, v: math.Inf(-1), bad: true},
		{name: "number float32 NaN", typ: Number, v: float32(math.NaN()), bad: true},
		{name: "number float32 Inf", typ: Number, v: float32(math.Inf(1)), bad: true},
		{name: "number as string", typ: Number, v: "1", bad: true},
		{name: "number as bool", typ: Number, v: true, bad: true},
		{name: "number as array", typ: Number, v: []any{1.0}, bad: true},
		{name: "number as object", typ: Number, v: map[string]any{"v": 1.0}, bad: true},

		{name: "string", typ: String, v: "North", want: "North"},
		{name: "string empty", typ: String, v: "", want: ""},
		{name: "string of MaxStringBytes", typ: String, v: strings.Repeat("x", MaxStringBytes), want: strings.Repeat("x", MaxStringBytes)},
		{name: "string null", typ: String, v: nil, want: nil},
		{name: "string over MaxStringBytes", typ: String, v: strings.Repeat("x", MaxStringBytes+1), bad: true},
		{name: "string as number", typ: String, v: 1.0, bad: true},
		{name: "string as bool", typ: String, v: false, bad: true},

		{name: "bool true", typ: Bool, v: true, want: true},
		{name: "bool false", typ: Bool, v: false, want: false},
		{name: "bool null", typ: Bool, v: nil, want: nil},
		{name: "bool as string", typ: Bool, v: "true", bad: true},
		{name: "bool as number", typ: Bool, v: 1.0, bad: true},

		{name: "time RFC 3339 UTC", typ: Time, v: "2024-03-01T12:00:00Z", want: "2024-03-01T12:00:00Z"},
		{name: "time RFC 3339 offset", typ: Time, v: "2024-03-01T12:00:00+05:30", want: "2024-03-01T12:00:00+05:30"},
		{name: "time RFC 3339 nanoseconds", typ: Time, v: "2024-03-01T12:00:00.123456789-07:00", want: "2024-03-01T12:00:00.123456789-07:00"},
		{name: "time RFC 3339 milliseconds", typ: Time, v: "2024-03-01T12:00:00.250Z", want: "2024-03-01T12:00:00.250Z"},
		{name: "time date", typ: Time, v: "2024-03-01", want: "2024-03-01"},
		{name: "time leap day", typ: Time, v: "2024-02-29", want: "2024-02-29"},
		{name: "time Go value becomes RFC 3339 UTC", typ: Time,
			v: time.Date(2024, 3, 1, 13, 30, 0, 5, time.FixedZone("CET", 3600)), want: "2024-03-01T12:30:00.000000005Z"},
		{name: "time null", typ: Time, v: nil, want: nil},
		{name: "time without zone", typ: Time, v: "2024-03-01T12:00:00", bad: true},
		{name: "time with space separator", typ: Time, v: "2024-03-01 12:00:00Z", bad: true},
		{name: "time date not in calendar", typ: Time, v: "2023-02-29", bad: true},
		{name: "time month 13", typ: Time, v: "2024-13-01", bad: true},
		{name: "time hour 24", typ: Time, v: "2024-03-01T24:00:00Z", bad: true},
		{name: "time one-digit month", typ: Time, v: "2024-3-01", bad: true},
		{name: "time US date", typ: Time, v: "03/01/2024", bad: true},
		{name: "time empty", typ: Time, v: "", bad: true},
		{name: "time Unix seconds", typ: Time, v: 1709294400.0, bad: true},
		{name: "time as bool", typ: Time, v: true, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filler := map[ColumnType]any{Number: 1.0, String: "s", Bool: true, Time: "2024-01-01"}[tt.typ]
			tb := Table{
				Columns: []Column{{"label", String}, {"v", tt.typ}},
				Rows: [][]any{
					{"a", filler},
					{"b", nil},
					{"c", filler},
					{"d", tt.v},
				},
			}
			err := tb.Validate()
			if tt.bad {
				fe := wantFieldError(t, err, "rows[3][1]")
				wantMessageContains(t, fe, `"v"`)
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			got := tb.Rows[3][1]
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("value after Validate (-want +got):\n%s", d)
			}
			if w, ok := tt.want.(float64); ok && math.Signbit(w) != math.Signbit(got.(float64)) {
				t.Errorf("value after Validate = %v, want sign of %v kept", got, w)
			}
			wantNormalized(t, tb.Rows)
		})
	}
}

// The time check promises RFC 3339 (the protocol says so, and browsers parse
// the string as sent); these strings are not RFC 3339 yet time.Parse accepts
// them.
func TestTableValidateTimeIsStrictRFC3339(t *testing.T) {
	for _, v := range []string{"2024-03-01T1:00:00Z", "2024-03-01T12:00:00,5Z"} {
		t.Run(v, func(t *testing.T) {
			tb := Table{Columns: []Column{{"t", Time}}, Rows: [][]any{{v}}}
			wantFieldError(t, tb.Validate(), "rows[0][0]")
		})
	}
}

func TestTableValidateRows(t *testing.T) {
	cols := []Column{{"a", String}, {"b", Number}}
	tests := []struct {
		name      string
		rows      [][]any
		wantField string
	}{
		{name: "no rows", rows: nil},
		{name: "empty rows", rows: [][]any{}},
		{name: "all values null", rows: [][]any{{nil, nil}}},
		{name: "short row", rows: [][]any{{"x", 1.0}, {"y"}}, wantField: "rows[1]"},
		{name: "long row", rows: [][]any{{"x", 1.0, 2.0}}, wantField: "rows[0]"},
		{name: "empty row", rows: [][]any{{}}, wantField: "rows[0]"},
		{name: "nil row", rows: [][]any{nil}, wantField: "rows[0]"},
		{name: "first bad value is reported", rows: [][]any{{"x", 1.0}, {2.0, "y"}}, wantField: "rows[1][0]"},
		{name: "length checked before values of the row", rows: [][]any{{1.0}}, wantField: "rows[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := Table{Columns: cols, Rows: tt.rows}
			err := tb.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			fe := wantFieldError(t, err, tt.wantField)
			if strings.HasSuffix(tt.wantField, "]") && strings.Count(tt.wantField, "[") == 1 {
				wantMessageContains(t, fe, fmt.Sprintf("want %d", len(cols)))
			}
		})
	}
}

func TestTableValidateColumnErrorsBeforeRows(t *testing.T) {
	tb := Table{Columns: []Column{{"a", "float"}}, Rows: [][]any{{1.0, 2.0}}}
	wantFieldError(t, tb.Validate(), "columns[0].type")
}

func TestTableValidateMaxRows(t *testing.T) {
	rows := func(n int) [][]any {
		r := make([][]any, n)
		for i := range r {
			r[i] = []any{float64(i)}
		}
		return r
	}
	cols := []Column{{"n", Number}}

	ok := Table{Columns: cols, Rows: rows(MaxRows)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate() of MaxRows rows = %v, want nil", err)
	}
	over := Table{Columns: cols, Rows: rows(MaxRows + 1)}
	wantFieldError(t, over.Validate(), "rows")
}

func TestTableClone(t *testing.T) {
	orig := Table{
		Columns: []Column{{"a", String}, {"b", Number}},
		Rows:    [][]any{{"x", 1.0}, {"y", nil}},
	}
	want := Table{
		Columns: []Column{{"a", String}, {"b", Number}},
		Rows:    [][]any{{"x", 1.0}, {"y", nil}},
	}
	c := orig.Clone()
	if d := cmp.Diff(want, c); d != "" {
		t.Fatalf("Clone() (-want +got):\n%s", d)
	}
	// The clone shares no slice with the original.
	c.Columns[0].Name = "changed"
	c.Rows[0][0] = "changed"
	c.Rows[1] = []any{"z", 2.0}
	c.Rows = append(c.Rows, []any{"w", 3.0})
	if d := cmp.Diff(want, orig); d != "" {
		t.Errorf("original changed through its clone (-want +got):\n%s", d)
	}
}

func TestTableValidateMessages(t *testing.T) {
	long := strings.Repeat("9", MaxStringBytes)
	tests := []struct {
		name    string
		col     Column
		v       any
		want    []string
		maxSize int // the message is at most this long, when set
	}{
		{name: "wrong JSON type is described", col: Column{"n", Number}, v: "12", want: []string{`"n"`, "number", "a string"}},
		{name: "array is described", col: Column{"s", String}, v: []any{"a"}, want: []string{"string", "an array"}},
		{name: "object is described", col: Column{"b", Bool}, v: map[string]any{}, want: []string{"bool", "an object"}},
		{name: "Go type is named", col: Column{"t", Time}, v: struct{}{}, want: []string{"time", "struct {}"}},
		{name: "bad time is quoted", col: Column{"t", Time}, v: "soon", want: []string{`"soon"`, "RFC 3339", "2006-01-02"}},
		{name: "long bad time is cut short", col: Column{"t", Time}, v: long, want: []string{strings.Repeat("9", 40) + "…"}, maxSize: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := Table{Columns: []Column{tt.col}, Rows: [][]any{{tt.v}}}
			fe := wantFieldError(t, tb.Validate(), "rows[0][0]")
			wantMessageContains(t, fe, tt.want...)
			if tt.maxSize > 0 && len(fe.Message) > tt.maxSize {
				t.Errorf("message is %d bytes, want at most %d", len(fe.Message), tt.maxSize)
			}
		})
	}
}
