package chart

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOpErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantField string
		wantMsg   []string
	}{
		{name: "empty input", in: ``, wantMsg: []string{"unexpected end"}},
		{name: "only whitespace", in: " \n\t", wantMsg: []string{"unexpected end"}},
		{name: "truncated object", in: `{"op":"append","rows":[[1]]`, wantMsg: []string{"unexpected end"}},
		{name: "truncated literal", in: `nul`, wantMsg: []string{"malformed JSON"}},
		{name: "trailing comma", in: `{"op":"append",}`, wantMsg: []string{"malformed JSON", "byte"}},
		{name: "not JSON", in: `op=append`, wantMsg: []string{"malformed JSON"}},
		{name: "single quotes", in: `{'op':'append'}`, wantMsg: []string{"malformed JSON"}},

		{name: "second object after the op", in: `{"op":"remove","keys":[["a"]]} {"op":"remove","keys":[["b"]]}`, wantMsg: []string{"after the op"}},
		{name: "garbage after the op", in: `{"op":"remove","keys":[["a"]]}x`, wantMsg: []string{"after the op"}},
		{name: "number after the op", in: `{"op":"remove","keys":[["a"]]} 1`, wantMsg: []string{"after the op"}},
		{name: "closing brace after the op", in: `{"op":"remove","keys":[["a"]]}}`, wantMsg: []string{"after the op"}},

		{name: "unknown top-level field", in: `{"op":"append","rows":[[1]],"extra":true}`, wantField: "extra", wantMsg: []string{"unknown field"}},
		{name: "unknown field before op", in: `{"zz":1,"op":"append","rows":[[1]]}`, wantField: "zz", wantMsg: []string{"unknown field"}},

		{name: "empty object", in: `{}`, wantField: "op", wantMsg: []string{"required"}},
		{name: "null", in: `null`, wantField: "op", wantMsg: []string{"required"}},
		{name: "op missing", in: `{"rows":[[1]]}`, wantField: "op", wantMsg: []string{"required"}},
		{name: "op empty", in: `{"op":"","rows":[[1]]}`, wantField: "op", wantMsg: []string{"required"}},
		{name: "op null", in: `{"op":null,"rows":[[1]]}`, wantField: "op", wantMsg: []string{"required"}},
		{name: "unknown op", in: `{"op":"delete","keys":[[1]]}`, wantField: "op", wantMsg: []string{`"delete"`, "replace", "config"}},
		{name: "op is case sensitive", in: `{"op":"Append","rows":[[1]]}`, wantField: "op", wantMsg: []string{`"Append"`}},

		{name: "replace without data", in: `{"op":"replace"}`, wantField: "data", wantMsg: []string{"required", "replace"}},
		{name: "replace with null data", in: `{"op":"replace","data":null}`, wantField: "data", wantMsg: []string{"required"}},
		{name: "replace with rows instead of data", in: `{"op":"replace","rows":[[1]]}`, wantField: "data", wantMsg: []string{"required"}},
		{name: "replace with rows", in: `{"op":"replace","data":{"columns":[{"name":"a","type":"number"}]},"rows":[[1]]}`, wantField: "rows", wantMsg: []string{"not allowed", "replace"}},
		{name: "replace with config", in: `{"op":"replace","data":{"columns":[]},"config":{}}`, wantField: "config", wantMsg: []string{"not allowed"}},
		{name: "append without rows", in: `{"op":"append"}`, wantField: "rows", wantMsg: []string{"required", "append"}},
		{name: "append with null rows", in: `{"op":"append","rows":null}`, wantField: "rows", wantMsg: []string{"required"}},
		{name: "append with keys", in: `{"op":"append","rows":[[1]],"keys":[[1]]}`, wantField: "keys", wantMsg: []string{"not allowed", "append"}},
		{name: "append with data", in: `{"op":"append","rows":[[1]],"data":{}}`, wantField: "data", wantMsg: []string{"not allowed"}},
		{name: "upsert without rows", in: `{"op":"upsert","keys":[[1]]}`, wantField: "rows", wantMsg: []string{"required", "upsert"}},
		{name: "upsert with config", in: `{"op":"upsert","rows":[[1]],"config":{}}`, wantField: "config", wantMsg: []string{"not allowed", "upsert"}},
		{name: "remove without keys", in: `{"op":"remove","rows":[[1]]}`, wantField: "keys", wantMsg: []string{"required", "remove"}},
		{name: "remove with rows", in: `{"op":"remove","keys":[[1]],"rows":[[1]]}`, wantField: "rows", wantMsg: []string{"not allowed", "remove"}},
		{name: "config without config", in: `{"op":"config"}`, wantField: "config", wantMsg: []string{"required", "config"}},
		{name: "config with data", in: `{"op":"config","config":{},"data":{}}`, wantField: "data", wantMsg: []string{"not allowed", "config"}},
		{name: "later duplicate op field wins", in: `{"op":"append","rows":[[1]],"op":"remove"}`, wantField: "keys", wantMsg: []string{"required"}},

		{name: "top level array", in: `[{"op":"append","rows":[[1]]}]`, wantMsg: []string{"want", "array"}},
		{name: "top level string", in: `"append"`, wantMsg: []string{"want", "string"}},
		{name: "op a number", in: `{"op":5}`, wantField: "op", wantMsg: []string{"number"}},
		{name: "rows an object", in: `{"op":"append","rows":{}}`, wantField: "rows", wantMsg: []string{"object"}},
		{name: "rows a number", in: `{"op":"append","rows":5}`, wantField: "rows", wantMsg: []string{"number"}},
		{name: "row not an array", in: `{"op":"append","rows":[5]}`, wantField: "rows[0]", wantMsg: []string{"number"}},
		{name: "number out of float64 range", in: `{"op":"append","rows":[[1e400]]}`, wantField: "rows", wantMsg: []string{"1e400"}},
		{name: "keys a string", in: `{"op":"remove","keys":"a"}`, wantField: "keys", wantMsg: []string{"string"}},
		{name: "data an array", in: `{"op":"replace","data":[]}`, wantField: "data", wantMsg: []string{"array"}},
		{name: "data columns an object", in: `{"op":"replace","data":{"columns":{}}}`, wantField: "data.columns", wantMsg: []string{"object"}},
		{name: "config a string", in: `{"op":"config","config":"line"}`, wantField: "config", wantMsg: []string{"string"}},
		{name: "config title a number", in: `{"op":"config","config":{"title":1}}`, wantField: "config.title", wantMsg: []string{"number"}},
		{name: "config retention a string", in: `{"op":"config","config":{"retention":"10"}}`, wantField: "config.retention", wantMsg: []string{"string"}},
		{name: "config retention fractional", in: `{"op":"config","config":{"retention":1.5}}`, wantField: "config.retention", wantMsg: []string{"1.5"}},
		{name: "config encoding a string", in: `{"op":"config","config":{"encoding":"x"}}`, wantField: "config.encoding", wantMsg: []string{"string"}},
		{name: "config colors a string", in: `{"op":"config","config":{"colors":"#fff"}}`, wantField: "config.colors", wantMsg: []string{"string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := ParseOp([]byte(tt.in))
			fe := wantFieldError(t, err, tt.wantField)
			wantMessageContains(t, fe, tt.wantMsg...)
			if d := cmp.Diff(Op{}, op); d != "" {
				t.Errorf("ParseOp returned a non-zero op with its error (-want +got):\n%s", d)
			}
		})
	}
}

// An error inside a nested object must name the field by its path from the
// top of the op, as FieldError documents ("data.rows[3][1]"), so that a client
// can point at the input at fault.
func TestParseOpNestedFieldPaths(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantField string
	}{
		{"unknown config field", `{"op":"config","config":{"type":"line","title":"t","colour":"#fff"}}`, "config.colour"},
		{"unknown data field", `{"op":"replace","data":{"columns":[{"name":"a","type":"number"}],"extra":1}}`, "data.extra"},
		{"unknown encoding field", `{"op":"config","config":{"type":"line","title":"t","encoding":{"x":"a","y":"b","z":"c"}}}`, "config.encoding.z"},
		{"type error in second column", `{"op":"replace","data":{"columns":[{"name":"a","type":"number"},{"name":1,"type":"number"}]}}`, "data.columns[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOp([]byte(tt.in))
			wantFieldError(t, err, tt.wantField)
		})
	}
}

func TestParseOpGood(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Op
	}{
		{
			name: "replace",
			in: `{"op":"replace","data":{"columns":[{"name":"day","type":"time"},{"name":"v","type":"number"},{"name":"s","type":"string"},{"name":"ok","type":"bool"}],
				"rows":[["2024-01-01",1.5,"a",true],["2024-01-02T03:04:05Z",-2,null,false]]}}`,
			want: Op{Kind: OpReplace, Data: &Table{
				Columns: []Column{{"day", Time}, {"v", Number}, {"s", String}, {"ok", Bool}},
				Rows:    [][]any{{"2024-01-01", 1.5, "a", true}, {"2024-01-02T03:04:05Z", -2.0, nil, false}},
			}},
		},
		{
			name: "replace without rows",
			in:   `{"op":"replace","data":{"columns":[{"name":"v","type":"number"}]}}`,
			want: Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"v", Number}}}},
		},
		{
			name: "append",
			in:   `{"op":"append","rows":[["North",1],["South",2.25]]}`,
			want: Op{Kind: OpAppend, Rows: [][]any{{"North", 1.0}, {"South", 2.25}}},
		},
		{
			name: "upsert",
			in:   `{"op":"upsert","rows":[["North","2024-01-01",12,null]]}`,
			want: Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01", 12.0, nil}}},
		},
		{
			name: "remove with composite keys",
			in:   `{"op":"remove","keys":[["North","2024-01-01"],["South","2024-01-02"]]}`,
			want: Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-01"}, {"South", "2024-01-02"}}},
		},
		{
			name: "config with every field",
			in: `{"op":"config","config":{"type":"scatter","title":"Weight by height","encoding":{"x":"h","y":"w","series":"sex"},
				"colors":["#abc","#1f77b4"],"key":["id"],"retention":500}}`,
			want: Op{Kind: OpConfig, Config: &Config{
				Type: Scatter, Title: "Weight by height",
				Encoding:  Encoding{X: "h", Y: "w", Series: "sex"},
				Colors:    []string{"#abc", "#1f77b4"},
				Key:       []string{"id"},
				Retention: 500,
			}},
		},
		{
			name: "pie config",
			in:   `{"op":"config","config":{"type":"pie","title":"Share","encoding":{"category":"region","value":"amount"}}}`,
			want: Op{Kind: OpConfig, Config: &Config{Type: Pie, Title: "Share", Encoding: Encoding{Category: "region", Value: "amount"}}},
		},
		{
			name: "surrounding whitespace and field order",
			in:   "\n\t {\"rows\": [[true]], \"op\": \"append\"} \r\n",
			want: Op{Kind: OpAppend, Rows: [][]any{{true}}},
		},
		{
			name: "values are not checked by ParseOp",
			in:   `{"op":"append","rows":[[{"a":1},[1,2]],[]]}`,
			want: Op{Kind: OpAppend, Rows: [][]any{{map[string]any{"a": 1.0}, []any{1.0, 2.0}}, {}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := ParseOp([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseOp() = %v, want nil", err)
			}
			if d := cmp.Diff(tt.want, op); d != "" {
				t.Fatalf("ParseOp() (-want +got):\n%s", d)
			}

			// What the server broadcasts (the op, marshalled) parses back to
			// the same op.
			b, err := json.Marshal(op)
			if err != nil {
				t.Fatalf("json.Marshal(op) = %v", err)
			}
			again, err := ParseOp(b)
			if err != nil {
				t.Fatalf("ParseOp(%s) of the marshalled op = %v, want nil", b, err)
			}
			if d := cmp.Diff(op, again); d != "" {
				t.Errorf("op changed in a JSON round trip through %s (-first +second):\n%s", b, d)
			}
		})
	}
}

// ParseOp accepts an empty list of rows or keys, but the op's JSON form drops
// it (omitempty), so the op the server marshals and broadcasts no longer
// parses: {"op":"append"} is refused with "rows: required".
func TestParseOpEmptyListRoundTrip(t *testing.T) {
	for _, in := range []string{`{"op":"append","rows":[]}`, `{"op":"upsert","rows":[]}`, `{"op":"remove","keys":[]}`} {
		t.Run(in, func(t *testing.T) {
			op, err := ParseOp([]byte(in))
			if err != nil {
				t.Fatalf("ParseOp(%s) = %v, want nil", in, err)
			}
			b, err := json.Marshal(op)
			if err != nil {
				t.Fatalf("json.Marshal(op) = %v", err)
			}
			again, err := ParseOp(b)
			if err != nil {
				t.Fatalf("ParseOp(%s) of the marshalled op = %v, want nil", b, err)
			}
			if d := cmp.Diff(op, again); d != "" {
				t.Errorf("round trip (-first +second):\n%s", d)
			}
		})
	}
}
