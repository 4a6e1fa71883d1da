package chart

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantFieldError fails the test unless err is a *FieldError (not wrapped:
// callers type-assert it) whose Field is exactly field and whose Message is
// not empty. It returns the error for further checks.
func wantFieldError(t *testing.T, err error, field string) *FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a *FieldError for field %q", field)
	}
	fe, ok := err.(*FieldError)
	if !ok {
		t.Fatalf("got error %T %q, want a *FieldError for field %q", err, err, field)
	}
	if fe.Field != field {
		t.Fatalf("got error on field %q (%q), want field %q", fe.Field, fe.Message, field)
	}
	if strings.TrimSpace(fe.Message) == "" {
		t.Fatalf("error on field %q has an empty message", field)
	}
	return fe
}

// wantMessageContains fails the test unless fe's message contains every one
// of subs.
func wantMessageContains(t *testing.T, fe *FieldError, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(fe.Message, s) {
			t.Errorf("message %q does not contain %q", fe.Message, s)
		}
	}
}

// copyState returns a deep copy of s that keeps nil and empty slices apart,
// so that an exact comparison with it detects any change to s.
func copyState(t *testing.T, s State) State {
	t.Helper()
	c := s
	c.Config.Colors = copyStrings(s.Config.Colors)
	c.Config.Key = copyStrings(s.Config.Key)
	if s.Data.Columns != nil {
		c.Data.Columns = append(make([]Column, 0, len(s.Data.Columns)), s.Data.Columns...)
	}
	c.Data.Rows = copyRows(s.Data.Rows)
	return c
}

func copyStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}

func copyRows(rows [][]any) [][]any {
	if rows == nil {
		return nil
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		if r != nil {
			out[i] = append(make([]any, 0, len(r)), r...)
		}
	}
	return out
}

// wantUnchanged fails the test if got differs in any way from before.
func wantUnchanged(t *testing.T, before, got State) {
	t.Helper()
	if d := cmp.Diff(before, got); d != "" {
		t.Errorf("state changed by a failed op (-before +after):\n%s", d)
	}
}

// wantNormalized fails the test unless every value in rows is one of the
// types a Table holds after validation: nil, string, float64 or bool.
func wantNormalized(t *testing.T, rows [][]any) {
	t.Helper()
	for i, r := range rows {
		for j, v := range r {
			switch v.(type) {
			case nil, string, float64, bool:
			default:
				t.Errorf("rows[%d][%d] = %#v (%T), want nil, string, float64 or bool", i, j, v, v)
			}
		}
	}
}

// salesColumns are the columns of the sales state used across tests.
func salesColumns() []Column {
	return []Column{
		{Name: "region", Type: String},
		{Name: "day", Type: Time},
		{Name: "amount", Type: Number},
		{Name: "final", Type: Bool},
	}
}

// salesState returns a fresh, valid state: a bar chart keyed by region and
// day, keeping at most five rows, holding three rows.
func salesState() State {
	return State{
		Config: Config{
			Type:      Bar,
			Title:     "Sales",
			Encoding:  Encoding{X: "region", Y: "amount", Series: "day"},
			Colors:    []string{"#1f77b4", "#ff7f0e"},
			Key:       []string{"region", "day"},
			Retention: 5,
		},
		Data: Table{
			Columns: salesColumns(),
			Rows: [][]any{
				{"North", "2024-01-01", 10.0, true},
				{"South", "2024-01-01", 20.0, false},
				{"North", "2024-01-02", 30.0, nil},
			},
		},
	}
}

// retentionOf is the row limit a config sets, zero meaning MaxRows.
func retentionOf(c Config) int {
	if c.Retention == 0 {
		return MaxRows
	}
	return c.Retention
}
