package chart

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ColumnType is the type of every value in a column.
type ColumnType string

// The column types. A time value is an RFC 3339 timestamp or a date
// (2006-01-02), kept as the string the publisher sent after validation.
const (
	String ColumnType = "string"
	Number ColumnType = "number"
	Time   ColumnType = "time"
	Bool   ColumnType = "bool"
)

// Column is a named, typed column of a Table.
type Column struct {
	Name string     `json:"name" yaml:"name"`
	Type ColumnType `json:"type" yaml:"type"`
}

// Table is a chart's data: typed columns and rows of values. A value is a
// string, a float64, a bool, or nil for a missing value.
type Table struct {
	Columns []Column `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

var (
	rfc3339RE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$`)
	dateRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

var columnNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// validateColumns checks names, types and uniqueness.
func validateColumns(cols []Column) error {
	if len(cols) == 0 {
		return fieldErrorf("columns", "at least one column is required")
	}
	if len(cols) > MaxColumns {
		return fieldErrorf("columns", "more than %d columns", MaxColumns)
	}
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		f := fmt.Sprintf("columns[%d]", i)
		if !columnNameRE.MatchString(c.Name) {
			return fieldErrorf(f+".name", "%q is not a column name (letters, digits and _, at most 64)", c.Name)
		}
		if seen[c.Name] {
			return fieldErrorf(f+".name", "duplicate column %q", c.Name)
		}
		seen[c.Name] = true
		switch c.Type {
		case String, Number, Time, Bool:
		default:
			return fieldErrorf(f+".type", "unknown column type %q (want string, number, time or bool)", c.Type)
		}
	}
	return nil
}

// Validate checks the table's columns and that every value fits its
// column's type. It normalizes values in place (integers decoded as other
// numeric Go types become float64).
func (t *Table) Validate() error {
	if err := validateColumns(t.Columns); err != nil {
		return err
	}
	if err := validateRows(t.Columns, t.Rows); err != nil {
		return Under("rows", err)
	}
	return nil
}

func validateRows(cols []Column, rows [][]any) error {
	if len(rows) > MaxRows {
		return fieldErrorf("", "more than %d rows", MaxRows)
	}
	for i, row := range rows {
		if len(row) != len(cols) {
			return fieldErrorf(fmt.Sprintf("[%d]", i), "has %d values, want %d (one per column)", len(row), len(cols))
		}
		for j, v := range row {
			nv, err := normalize(cols[j], v)
			if err != nil {
				return fieldErrorf(fmt.Sprintf("[%d][%d]", i, j), "%v", err)
			}
			row[j] = nv
		}
	}
	return nil
}

func normalize(c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Type {
	case Number:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case float32:
			f = float64(n)
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case int32:
			f = float64(n)
		case uint64:
			f = float64(n)
		default:
			return nil, fmt.Errorf("column %q is number, got %s", c.Name, describe(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("column %q: number must be finite", c.Name)
		}
		if f == 0 {
			f = 0 // -0 and 0 are one value, and one key
		}
		return f, nil
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("column %q is string, got %s", c.Name, describe(v))
		}
		if len(s) > MaxStringBytes {
			return nil, fmt.Errorf("column %q: string longer than %d bytes", c.Name, MaxStringBytes)
		}
		return s, nil
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("column %q is bool, got %s", c.Name, describe(v))
		}
		return b, nil
	case Time:
		switch tv := v.(type) {
		case string:
			// time.Parse alone is lenient (one-digit hours, comma
			// fractions); the pattern holds values to RFC 3339 proper.
			if rfc3339RE.MatchString(tv) {
				if _, err := time.Parse(time.RFC3339Nano, tv); err == nil {
					return tv, nil
				}
			}
			if dateRE.MatchString(tv) {
				if _, err := time.Parse(time.DateOnly, tv); err == nil {
					return tv, nil
				}
			}
			return nil, fmt.Errorf("column %q is time, %q is neither RFC 3339 nor a date (2006-01-02)", c.Name, truncate(tv))
		case time.Time:
			return tv.UTC().Format(time.RFC3339Nano), nil
		default:
			return nil, fmt.Errorf("column %q is time, got %s", c.Name, describe(v))
		}
	}
	return nil, fmt.Errorf("column %q has unknown type %q", c.Name, c.Type)
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64, float32, int, int64, int32, uint64:
		return "a number"
	case bool:
		return "a bool"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// keyOf returns a string identifying row by the columns at idx.
func keyOf(row []any, idx []int) string {
	var b strings.Builder
	for _, i := range idx {
		switch v := row[i].(type) {
		case nil:
			b.WriteString("n")
		case string:
			b.WriteString("s")
			b.WriteString(strconv.Quote(v))
		case float64:
			b.WriteString("f")
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		case bool:
			b.WriteString("b")
			b.WriteString(strconv.FormatBool(v))
		}
		b.WriteByte(0)
	}
	return b.String()
}

// Clone returns a deep copy of the table's structure; values are immutable
// and shared.
func (t Table) Clone() Table {
	c := Table{Columns: append([]Column{}, t.Columns...), Rows: make([][]any, len(t.Rows))}
	for i, r := range t.Rows {
		c.Rows[i] = append([]any(nil), r...)
	}
	return c
}
