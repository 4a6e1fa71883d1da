package bench

import (
	"bytes"
	"encoding/json"
	"testing"
)

var scanSeeds = []string{
	`{"type":"op","stream":"bench-0","chart":"bench-0","epoch":"a1b2","offset":42,"ts":1764150000000,"op":{"op":"append","rows":[[1,1764150000123456768]]}}`,
	` { "op" : {"op":"remove","keys":[["}",{"a":"]"}]]} , "offset":0,"epoch":"","stream":"s","type":"op"} `,
	`{"type":"op","stream":"s","epoch":"e","offset":18446744073709551615,"op":{}}`,
	`{"type":"op","stream":"s","epoch":"e","offset":18446744073709551616,"op":{}}`, // overflows: slow path
	`{"type":"op","stream":"s","epoch":"e","offset":1.5,"op":{}}`,
	`{"type":"op","stream":"s","epoch":"e","offset":1e3,"op":{}}`,
	`{"type":"op","stream":"s","epoch":"e","offset":-1,"op":{}}`,
	`{"type":"op","stream":"s\u0041","epoch":"e","offset":1,"op":{}}`, // escaped: slow path
	`{"type":"op","stream":"s","epoch":"e","offset":1,"op":[]}`,
	`{"type":"op","stream":"s","epoch":"e","offset":1}`,
	`{"type":"snapshot","stream":"s","epoch":"e","offset":1,"state":{}}`,
	`{"type":"op","stream":"s","epoch":"e","offset":1,"op":{},"extra":[true,false,null,"x\"y",-1.5e3]}`,
	`{"type":"op","stream":"s","epoch":"e","offset":1,"op":{"rows":[[1,]]}}`, // op checked by its parser
	`{"type":"op","stream":"s","epoch":"e","offset":1,"op":{}} trailing`,
	`{"type":"op","stream":"s","epoch":"e","offset":01,"op":{}}`,
	`{"type":"op","stream":"s","epoch":"e","offset":1,"op":{},}`,
	`{"type":"op","type":"op","stream":"a","stream":"b","epoch":"e","offset":1,"op":{}}`,
	`[1,2]`,
	``,
}

// checkScan: when the fast path accepts a frame whose op is valid JSON
// (the op is checked where it is parsed), encoding/json reads the same
// fields from it.
func checkScan(t *testing.T, line []byte) {
	env, ok := scanOpFrame(line)
	if !ok || !json.Valid(env.op) {
		return
	}
	var f struct {
		Type   string          `json:"type"`
		Stream string          `json:"stream"`
		Epoch  string          `json:"epoch"`
		Offset uint64          `json:"offset"`
		Op     json.RawMessage `json:"op"`
	}
	if err := json.Unmarshal(line, &f); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %v", line, err)
	}
	if f.Type != "op" || f.Stream != string(env.stream) || f.Epoch != string(env.epoch) || f.Offset != env.offset || !bytes.Equal(f.Op, env.op) {
		t.Fatalf("%q: fast path read %q %q %d %q, encoding/json %+v", line, env.stream, env.epoch, env.offset, env.op, f)
	}
}

func TestScanOpFrame(t *testing.T) {
	accepted := 0
	for _, s := range scanSeeds {
		checkScan(t, []byte(s))
		if _, ok := scanOpFrame([]byte(s)); ok {
			accepted++
		}
	}
	// The first three, the one with a broken op and the duplicate keys
	// take the fast path; the rest go to encoding/json.
	if accepted != 5 {
		t.Errorf("fast path took %d of the seeds, want 5", accepted)
	}
	env, ok := scanOpFrame([]byte(scanSeeds[0]))
	if !ok || string(env.stream) != "bench-0" || string(env.epoch) != "a1b2" || env.offset != 42 || string(env.op) != `{"op":"append","rows":[[1,1764150000123456768]]}` {
		t.Errorf("scanOpFrame(%s) = %q %q %d %q, %v", scanSeeds[0], env.stream, env.epoch, env.offset, env.op, ok)
	}
}

func FuzzScanOpFrame(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkScan(t, line) })
}
