package web

import "testing"

// TestCSVValue: numbers exact and shortest, null empty, and every text a
// spreadsheet would run as a formula defused with an apostrophe.
func TestCSVValue(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, ""},
		{2.5, "2.5"},
		{1e21, "1000000000000000000000"},
		{true, "true"},
		{"North", "North"},
		{"", ""},
		{"=SUM(A1)", "'=SUM(A1)"},
		{"+1", "'+1"},
		{"-x", "'-x"},
		{"@cmd", "'@cmd"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
	} {
		if got := csvValue(c.in); got != c.want {
			t.Errorf("csvValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
