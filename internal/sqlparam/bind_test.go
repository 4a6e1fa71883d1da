package sqlparam

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBind(t *testing.T) {
	params := map[string]string{"a": "va", "b": "vb", "region": "EU", "_x1": "vx"}
	tests := []struct {
		name     string
		query    string
		style    int
		want     string
		wantArgs []any
	}{
		{
			name:     "question style",
			query:    "SELECT x FROM t WHERE a = :a AND b = :b",
			style:    Question,
			want:     "SELECT x FROM t WHERE a = ? AND b = ?",
			wantArgs: []any{"va", "vb"},
		},
		{
			name:     "dollar style",
			query:    "SELECT x FROM t WHERE a = :a AND b = :b",
			style:    Dollar,
			want:     "SELECT x FROM t WHERE a = $1 AND b = $2",
			wantArgs: []any{"va", "vb"},
		},
		{
			name:     "sqlite bracket identifier",
			query:    "SELECT [odd:a name] FROM t WHERE a = :a",
			style:    Question,
			want:     "SELECT [odd:a name] FROM t WHERE a = ?",
			wantArgs: []any{"va"},
		},
		{
			name:     "no parameters",
			query:    "SELECT 1",
			style:    Question,
			want:     "SELECT 1",
			wantArgs: nil,
		},
		{
			name:     "question style repeats the argument of a repeated parameter",
			query:    "SELECT :a, :b, :a",
			style:    Question,
			want:     "SELECT ?, ?, ?",
			wantArgs: []any{"va", "vb", "va"},
		},
		{
			name:     "dollar style reuses the number of a repeated parameter",
			query:    "SELECT :b, :a, :b, :a",
			style:    Dollar,
			want:     "SELECT $1, $2, $1, $2",
			wantArgs: []any{"vb", "va"},
		},
		{
			name:     "parameter inside a string literal is left alone",
			query:    "SELECT ':a', :b",
			style:    Question,
			want:     "SELECT ':a', ?",
			wantArgs: []any{"vb"},
		},
		{
			name:     "doubled quote inside a string literal",
			query:    "SELECT 'it''s :a' || :b",
			style:    Question,
			want:     "SELECT 'it''s :a' || ?",
			wantArgs: []any{"vb"},
		},
		{
			name:     "literal that is only a doubled quote",
			query:    "SELECT '''', :a",
			style:    Question,
			want:     "SELECT '''', ?",
			wantArgs: []any{"va"},
		},
		{
			name:     "literal ending in a doubled quote followed by a parameter-like text",
			query:    "SELECT ''':a'",
			style:    Question,
			want:     "SELECT ''':a'",
			wantArgs: nil,
		},
		{
			name:     "empty literal next to a parameter",
			query:    "SELECT ''||:a",
			style:    Question,
			want:     "SELECT ''||?",
			wantArgs: []any{"va"},
		},
		{
			name:     "double-quoted identifier",
			query:    `SELECT "col:a" FROM t WHERE x = :a`,
			style:    Question,
			want:     `SELECT "col:a" FROM t WHERE x = ?`,
			wantArgs: []any{"va"},
		},
		{
			name:     "doubled quote inside a double-quoted identifier",
			query:    `SELECT "a"":b" FROM t`,
			style:    Question,
			want:     `SELECT "a"":b" FROM t`,
			wantArgs: nil,
		},
		{
			name:     "backtick identifier",
			query:    "SELECT `x:a` FROM t WHERE y = :b",
			style:    Question,
			want:     "SELECT `x:a` FROM t WHERE y = ?",
			wantArgs: []any{"vb"},
		},
		{
			name:     "line comment",
			query:    "SELECT :a -- not :b, nor 'this\nFROM t WHERE y = :b",
			style:    Question,
			want:     "SELECT ? -- not :b, nor 'this\nFROM t WHERE y = ?",
			wantArgs: []any{"va", "vb"},
		},
		{
			name:     "line comment at the end without a newline",
			query:    "SELECT :a -- :b",
			style:    Question,
			want:     "SELECT ? -- :b",
			wantArgs: []any{"va"},
		},
		{
			name:     "block comment",
			query:    "SELECT /* :a, 'x */ :b",
			style:    Question,
			want:     "SELECT /* :a, 'x */ ?",
			wantArgs: []any{"vb"},
		},
		{
			name:     "block comment whose opening star is not its end",
			query:    "SELECT /*/ :a */ :b",
			style:    Question,
			want:     "SELECT /*/ :a */ ?",
			wantArgs: []any{"vb"},
		},
		{
			name:     "empty block comment before a parameter",
			query:    "SELECT /**/:a",
			style:    Question,
			want:     "SELECT /**/?",
			wantArgs: []any{"va"},
		},
		{
			name:     "cast is left alone",
			query:    "SELECT x::int, y::text FROM t",
			style:    Dollar,
			want:     "SELECT x::int, y::text FROM t",
			wantArgs: nil,
		},
		{
			name:     "parameter followed by a cast",
			query:    "SELECT :a::int",
			style:    Dollar,
			want:     "SELECT $1::int",
			wantArgs: []any{"va"},
		},
		{
			name:     "colon not followed by a name",
			query:    "SELECT '12:30', a[1:2], x : y FROM t:",
			style:    Question,
			want:     "SELECT '12:30', a[1:2], x : y FROM t:",
			wantArgs: nil,
		},
		{
			name:     "colon and a digit in the dollar style",
			query:    "SELECT a[1:2], :1",
			style:    Dollar,
			want:     "SELECT a[1:2], :1",
			wantArgs: nil,
		},
		{
			name:     "dollar signs and non-ASCII bytes inside SQLite identifiers",
			query:    "SELECT a$b, été, x$:a FROM t WHERE c = :a",
			style:    Question,
			want:     "SELECT a$b, été, x$? FROM t WHERE c = ?",
			wantArgs: []any{"va", "va"},
		},
		{
			name:     "a parameter in parentheses",
			query:    "SELECT coalesce(:a) AS x",
			style:    Question,
			want:     "SELECT coalesce(?) AS x",
			wantArgs: []any{"va"},
		},
		{
			name:     "names with underscore and digits, adjacent parameters",
			query:    "SELECT :_x1,:region||:a",
			style:    Question,
			want:     "SELECT ?,?||?",
			wantArgs: []any{"vx", "EU", "va"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, args, err := Bind(tt.query, tt.style, params)
			if err != nil {
				t.Fatalf("Bind(%q): %v", tt.query, err)
			}
			if got != tt.want {
				t.Errorf("Bind(%q) query:\n got %q\nwant %q", tt.query, got, tt.want)
			}
			if d := cmp.Diff(tt.wantArgs, args); d != "" {
				t.Errorf("Bind(%q) args (-want +got):\n%s", tt.query, d)
			}
		})
	}
}

func TestBindErrors(t *testing.T) {
	params := map[string]string{"a": "va"}
	tests := []struct {
		name    string
		query   string
		wantSub string
	}{
		{"undeclared parameter", "SELECT :a, :missing", ":missing"},
		{"undeclared parameter after a comment", "SELECT /* :a */ :other_1", ":other_1"},
		{"upper-case letters and digits belong to the name", "SELECT :a, :aB2", ":aB2"},
		{"unterminated string literal", "SELECT 'abc, :a", "unterminated quote starting at byte 7"},
		{"literal ending in a lone doubled quote", "SELECT '''", "unterminated quote starting at byte 7"},
		{"unterminated double-quoted identifier", `SELECT "abc`, "unterminated quote starting at byte 7"},
		{"unterminated backtick identifier", "SELECT `abc", "unterminated quote starting at byte 7"},
		{"unterminated block comment", "SELECT :a /* :a", "unterminated comment starting at byte 10"},
	}
	for _, style := range []struct {
		name  string
		style int
	}{{"question", Question}, {"dollar", Dollar}} {
		for _, tt := range tests {
			t.Run(style.name+"/"+tt.name, func(t *testing.T) {
				got, args, err := Bind(tt.query, style.style, params)
				if err == nil {
					t.Fatalf("Bind(%q) = %q, %v; want an error", tt.query, got, args)
				}
				if !strings.Contains(err.Error(), tt.wantSub) {
					t.Errorf("Bind(%q) error %q does not contain %q", tt.query, err, tt.wantSub)
				}
				if got != "" || args != nil {
					t.Errorf("Bind(%q) returned %q, %v with its error; want nothing", tt.query, got, args)
				}
			})
		}
	}
}

// TestBindRefusesSQLiteParameters: SQLite's own parameters are refused,
// whole, as SQLite's tokenizer reads them; a tcl-style one hides a quote
// or a semicolon that would make the scan see one statement where SQLite
// runs two.
func TestBindRefusesSQLiteParameters(t *testing.T) {
	params := map[string]string{"a": "va"}
	for _, tt := range []struct{ query, token string }{
		{"SELECT ?", `"?"`},
		{"SELECT ?12, :a", `"?12"`},
		{"SELECT @a", `"@a"`},
		{"SELECT $a", `"$a"`},
		{"SELECT #a", `"#a"`},
		{"SELECT :1", `":1"`},
		{"SELECT :a$b", `":a$b"`},
		{"SELECT :aé", `":aé"`},
		{"SELECT :a::int", `":a::int"`},
		{"SELECT $a::b::c(x) AS y", `"$a::b::c(x)"`},
		{"SELECT $a(') ; ATTACH 'meta.db' AS m; SELECT (')", `"$a(')"`},
		{"SELECT :a(;) ; PRAGMA query_only = 0", `":a(;)"`},
		{`SELECT @a("x) AS y`, `"@a(\"x)"`},
	} {
		t.Run(tt.query, func(t *testing.T) {
			got, args, err := Bind(tt.query, Question, params)
			if err == nil {
				t.Fatalf("Bind(%q) = %q, %v; want an error", tt.query, got, args)
			}
			if !strings.Contains(err.Error(), tt.token+" at byte 7 is SQLite's own parameter syntax") {
				t.Errorf("Bind(%q) error %q does not name %s at byte 7", tt.query, err, tt.token)
			}
		})
	}
}

// TestBindValuesNeverBecomeSQL checks that a parameter's value is only ever
// an argument, whatever it holds.
func TestBindValuesNeverBecomeSQL(t *testing.T) {
	for _, v := range []string{"' OR 1=1 --", `"; DROP TABLE t; --`, ":a", "$1", "?", "/*"} {
		t.Run(v, func(t *testing.T) {
			for style, want := range map[int]string{Question: "SELECT x FROM t WHERE a = ?", Dollar: "SELECT x FROM t WHERE a = $1"} {
				got, args, err := Bind("SELECT x FROM t WHERE a = :a", style, map[string]string{"a": v})
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("style %d: query %q, want %q", style, got, want)
				}
				if d := cmp.Diff([]any{v}, args); d != "" {
					t.Errorf("style %d: args (-want +got):\n%s", style, d)
				}
			}
		})
	}
}
