package chart

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzSeeds are real ops of every kind for the sales state, and bad ones.
var fuzzSeeds = []string{
	`{"op":"replace","data":{"columns":[{"name":"region","type":"string"},{"name":"day","type":"time"},{"name":"amount","type":"number"},{"name":"final","type":"bool"}],"rows":[["East","2024-02-01",5,true],["West","2024-02-01T10:00:00Z",null,false]]}}`,
	`{"op":"replace","data":{"columns":[{"name":"region","type":"string"},{"name":"day","type":"time"},{"name":"amount","type":"number"}]}}`,
	`{"op":"replace","data":{"columns":[{"name":"region","type":"string"},{"name":"amount","type":"string"}],"rows":[]}}`,
	`{"op":"replace","data":{"columns":[{"name":"a","type":"number"}],"rows":[[1],[2],[3],[4],[5],[6]]}}`,
	`{"op":"append","rows":[["East","2024-01-03",7,false]]}`,
	`{"op":"append","rows":[["A",null,1,null],["B",null,2,null],["C",null,3,null],["D",null,4,null],["E",null,5,null],["F",null,6,null]]}`,
	`{"op":"append","rows":[["A",null,"1",null]]}`,
	`{"op":"append","rows":[["A",null,1]]}`,
	`{"op":"append","rows":[]}`,
	`{"op":"upsert","rows":[["North","2024-01-01",11,false],["East","2024-01-01",1,null]]}`,
	`{"op":"upsert","rows":[["North","2024-01-01",-0,false],["North","2024-01-01",1e308,true]]}`,
	`{"op":"upsert","rows":[["North","2024-13-01",1,true]]}`,
	`{"op":"remove","keys":[["North","2024-01-01"],["Nowhere","2024-01-01"]]}`,
	`{"op":"remove","keys":[["North"]]}`,
	`{"op":"remove","keys":[[1,"2024-01-01"]]}`,
	`{"op":"config","config":{"type":"pie","title":"Share","encoding":{"category":"region","value":"amount"},"retention":2}}`,
	`{"op":"config","config":{"type":"scatter","title":"S","encoding":{"x":"amount","y":"amount","series":"final"},"colors":["#abc"],"key":["final"],"retention":1}}`,
	`{"op":"config","config":{"type":"line","title":"L","encoding":{"x":"day","y":"region"}}}`,
	`{"op":"config","config":{"type":"line","title":"","encoding":{"x":"day","y":"amount"}}}`,
	`{"op":"config","config":{"type":"bar","title":"B","encoding":{"x":"region","y":"amount"},"retention":-1}}`,
	`{"op":"append","rows":[[1]]} {}`,
	`{"op":"append","rows":[[1]],"keys":[[1]]}`,
	`{"op":"config","config":{"colour":"#fff"}}`,
	`{"op":"delete"}`,
	`{"op":5}`,
	`{"op":"append","rows":[[1e400]]}`,
	`[1,2]`,
	`{"op":"replace","data":null}`,
	`{"op":`,
	``,
	`null`,
}

// checkApplied checks what Apply promises: on error, a *FieldError naming a
// field and the state as it was before; on success, a state that holds only
// normalized values, one per column, within its retention, and validates.
func checkApplied(t *testing.T, before, s State, op Op, err error) {
	t.Helper()
	if err != nil {
		fe, ok := err.(*FieldError)
		if !ok {
			t.Fatalf("Apply(%+v) = %v (%T), want a *FieldError", op, err, err)
		}
		if fe.Field == "" || fe.Message == "" {
			t.Errorf("Apply(%+v) = %#v, want both a field and a message", op, fe)
		}
		wantUnchanged(t, before, s)
		return
	}
	for i, r := range s.Data.Rows {
		if len(r) != len(s.Data.Columns) {
			t.Fatalf("after Apply(%+v): row %d has %d values for %d columns", op, i, len(r), len(s.Data.Columns))
		}
	}
	if r := retentionOf(s.Config); len(s.Data.Rows) > r {
		t.Fatalf("after Apply(%+v): %d rows, more than the retention of %d", op, len(s.Data.Rows), r)
	}
	wantNormalized(t, s.Data.Rows)
	c := copyState(t, s)
	if err := c.Validate(); err != nil {
		t.Fatalf("after Apply(%+v): state does not validate: %v", op, err)
	}
}

func FuzzParseOp(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		op, err := ParseOp(data)
		if err != nil {
			if _, ok := err.(*FieldError); !ok {
				t.Fatalf("ParseOp(%q) = %v (%T), want a *FieldError", data, err, err)
			}
			if err.Error() == "" {
				t.Fatalf("ParseOp(%q) returned an error with no text", data)
			}
			if d := cmp.Diff(Op{}, op); d != "" {
				t.Fatalf("ParseOp(%q) returned an op with its error:\n%s", data, d)
			}
			return
		}
		switch op.Kind {
		case OpReplace, OpAppend, OpUpsert, OpRemove, OpConfig:
		default:
			t.Fatalf("ParseOp(%q) accepted op kind %q", data, op.Kind)
		}
		s := salesState()
		before := copyState(t, s)
		err = s.Apply(op)
		checkApplied(t, before, s, op, err)
	})
}

// FuzzApplySequence applies up to eight ops, one per line, to the sales
// state, checking the state after each.
func FuzzApplySequence(f *testing.F) {
	f.Add([]byte(fuzzSeeds[4] + "\n" + fuzzSeeds[9] + "\n" + fuzzSeeds[12]))
	f.Add([]byte(fuzzSeeds[15] + "\n" + fuzzSeeds[0] + "\n" + fuzzSeeds[5]))
	f.Add([]byte(fuzzSeeds[1] + "\n" + fuzzSeeds[16] + "\n" + fuzzSeeds[10] + "\n" + fuzzSeeds[13]))
	f.Add([]byte(fuzzSeeds[3] + "\n" + fuzzSeeds[17] + "\n" + fuzzSeeds[6]))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.SplitN(data, []byte("\n"), 9)
		if len(lines) > 8 {
			lines = lines[:8]
		}
		s := salesState()
		for _, line := range lines {
			op, err := ParseOp(line)
			if err != nil {
				continue
			}
			before := copyState(t, s)
			err = s.Apply(op)
			checkApplied(t, before, s, op, err)
		}
	})
}
