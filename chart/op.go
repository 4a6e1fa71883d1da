package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// OpKind names an operation on a chart.
type OpKind string

// The operations.
const (
	// OpReplace replaces the whole table, columns included.
	OpReplace OpKind = "replace"
	// OpAppend adds rows at the end, then drops the oldest rows past the
	// config's retention.
	OpAppend OpKind = "append"
	// OpUpsert replaces rows whose key columns match, and appends the rest.
	OpUpsert OpKind = "upsert"
	// OpRemove removes the rows with the given keys.
	OpRemove OpKind = "remove"
	// OpConfig replaces the chart's config.
	OpConfig OpKind = "config"
)

// Op is one change to a chart's state. Which fields it carries depends on
// Kind: Data for replace, Rows for append and upsert, Keys for remove,
// Config for config.
type Op struct {
	Kind   OpKind  `json:"op"`
	Data   *Table  `json:"data,omitempty"`
	Rows   [][]any `json:"rows,omitempty"`
	Keys   [][]any `json:"keys,omitempty"`
	Config *Config `json:"config,omitempty"`
}

// ParseOp decodes an op from JSON, rejecting unknown fields and trailing
// data. It checks the op's shape; State.Apply checks it against a chart.
func ParseOp(data []byte) (Op, error) {
	// First as generic JSON, to find syntax errors, trailing data, unknown
	// fields and mistyped values with their full path.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return Op{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Op{}, &FieldError{Message: "unexpected data after the op object"}
	}
	if err := opShape.check("", raw); err != nil {
		return Op{}, err
	}
	var op Op
	if err := json.Unmarshal(data, &op); err != nil {
		return Op{}, jsonError(err)
	}
	if err := op.checkShape(); err != nil {
		return Op{}, err
	}
	return op, nil
}

// MarshalJSON writes the op with exactly the field its kind carries, empty
// lists included, so that the JSON parses back to the same op.
func (op Op) MarshalJSON() ([]byte, error) {
	m := map[string]any{"op": op.Kind}
	switch op.Kind {
	case OpReplace:
		m["data"] = op.Data
	case OpAppend, OpUpsert:
		m["rows"] = nonNil(op.Rows)
	case OpRemove:
		m["keys"] = nonNil(op.Keys)
	case OpConfig:
		m["config"] = op.Config
	}
	// No HTML escaping: ops travel to programs, not into HTML, and an
	// encoder that wants escaping applies it to this output itself.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func nonNil(rows [][]any) [][]any {
	if rows == nil {
		return [][]any{}
	}
	return rows
}

// jsonError turns a decoding error into a FieldError with a message fit
// for the user who sent the document.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &FieldError{Message: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se.Error())}
	case errors.As(err, &te):
		return &FieldError{Field: te.Field, Message: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Message: "malformed JSON: unexpected end of input"}
	}
	return &FieldError{Message: "malformed JSON: " + err.Error()}
}

// checkShape checks that the op carries the fields its kind needs and no
// others.
func (op *Op) checkShape() error {
	has := map[string]bool{"data": op.Data != nil, "rows": op.Rows != nil, "keys": op.Keys != nil, "config": op.Config != nil}
	var want string
	switch op.Kind {
	case OpReplace:
		want = "data"
	case OpAppend, OpUpsert:
		want = "rows"
	case OpRemove:
		want = "keys"
	case OpConfig:
		want = "config"
	case "":
		return fieldErrorf("op", "required (one of replace, append, upsert, remove, config)")
	default:
		return fieldErrorf("op", "unknown op %q (want one of replace, append, upsert, remove, config)", op.Kind)
	}
	if !has[want] {
		return fieldErrorf(want, "required for op %q", op.Kind)
	}
	for _, f := range []string{"data", "rows", "keys", "config"} {
		if f != want && has[f] {
			return fieldErrorf(f, "not allowed for op %q", op.Kind)
		}
	}
	return nil
}

// State is a chart's config and data.
type State struct {
	Config Config `json:"config"`
	Data   Table  `json:"data"`
}

// Validate checks a whole state, as loaded from a definition.
func (s *State) Validate() error {
	if err := s.Config.Validate(); err != nil {
		return Under("config", err)
	}
	if len(s.Data.Columns) > 0 || len(s.Data.Rows) > 0 {
		if err := s.Data.Validate(); err != nil {
			return Under("data", err)
		}
	}
	if r := s.retention(); len(s.Data.Rows) > r {
		return fieldErrorf("data.rows", "%d rows is more than the chart's retention of %d", len(s.Data.Rows), r)
	}
	if n, b := rowsBytes(s.Data.Rows), s.budget(); n > b {
		return fieldErrorf("data.rows", "%d bytes is more than the chart's budget of %d bytes (max_bytes)", n, b)
	}
	return Under("config", s.Config.ValidateFor(s.Data.Columns))
}

// Check validates op against the state without changing the state. It
// normalizes values inside op, as Apply does, so that the op encoded after
// Check is the op Apply applies. The op must not be used concurrently.
// The byte budget is Sized's to keep.
func (s *State) Check(op Op) error {
	if err := op.checkShape(); err != nil {
		return err
	}
	switch op.Kind {
	case OpReplace:
		if err := op.Data.Validate(); err != nil {
			return Under("data", err)
		}
		if err := s.Config.ValidateFor(op.Data.Columns); err != nil {
			return fieldErrorf("data.columns", "do not fit the chart's config: %v", err)
		}
		if r := s.retention(); len(op.Data.Rows) > r {
			return fieldErrorf("data.rows", "%d rows is more than the chart's retention of %d", len(op.Data.Rows), r)
		}
	case OpAppend:
		return s.checkRows(op.Rows)
	case OpUpsert:
		if _, err := s.keyIndex("rows"); err != nil {
			return err
		}
		return s.checkRows(op.Rows)
	case OpRemove:
		idx, err := s.keyIndex("keys")
		if err != nil {
			return err
		}
		keyCols := make([]Column, len(idx))
		for i, j := range idx {
			keyCols[i] = s.Data.Columns[j]
		}
		if err := validateRows(keyCols, op.Keys); err != nil {
			return Under("keys", err)
		}
	case OpConfig:
		if err := op.Config.ValidateFor(s.Data.Columns); err != nil {
			return Under("config", err)
		}
	}
	return nil
}

// Apply checks op (see Check) and applies it. On error the state is
// unchanged. The state keeps no reference to the op's slices.
func (s *State) Apply(op Op) error {
	if err := s.Check(op); err != nil {
		return err
	}
	s.apply(op, nil)
	return nil
}

// apply applies op, which Check took. When size is not nil, it keeps
// *size what the rows take as JSON (rowsBytes).
func (s *State) apply(op Op, size *int) {
	switch op.Kind {
	case OpReplace:
		s.Data = op.Data.Clone()
		if size != nil {
			*size = rowsBytes(s.Data.Rows)
		}
	case OpAppend:
		if size != nil {
			*size += rowsBytes(op.Rows)
		}
		s.Data.Rows = s.retain(append(s.Data.Rows, cloneRows(op.Rows)...), size)
	case OpUpsert:
		idx, _ := s.keyIndex("rows")
		if size != nil {
			*size += rowsBytes(op.Rows)
		}
		s.Data.Rows = s.retain(upsert(s.Data.Rows, cloneRows(op.Rows), idx, size), size)
	case OpRemove:
		idx, _ := s.keyIndex("keys")
		seq := make([]int, len(idx))
		for j := range seq {
			seq[j] = j
		}
		drop := make(map[string]bool, len(op.Keys))
		for _, k := range op.Keys {
			drop[keyOf(k, seq)] = true
		}
		kept := s.Data.Rows[:0:0]
		for _, r := range s.Data.Rows {
			if !drop[keyOf(r, idx)] {
				kept = append(kept, r)
			} else if size != nil {
				*size -= rowBytes(r)
			}
		}
		s.Data.Rows = kept
	case OpConfig:
		c := *op.Config
		c.Colors = append([]string(nil), c.Colors...)
		c.Key = append([]string(nil), c.Key...)
		if r := c.Retention; r > 0 && len(s.Data.Rows) > r {
			if size != nil {
				*size -= rowsBytes(s.Data.Rows[:len(s.Data.Rows)-r])
			}
			s.Data.Rows = append(s.Data.Rows[:0:0], s.Data.Rows[len(s.Data.Rows)-r:]...)
		}
		s.Config = c
	}
}

// upsert puts each of add in rows, in place of the row with the same key
// or at the end; it takes what each replaced row took from *size, when
// size is not nil. A few rows are matched by scanning, which allocates
// nothing; many through an index of the keys.
func upsert(rows, add [][]any, idx []int, size *int) [][]any {
	replace := func(i int, r []any) {
		if size != nil {
			*size -= rowBytes(rows[i])
		}
		rows[i] = r
	}
	if len(add) <= 4 {
	next:
		for _, r := range add {
			for i := len(rows) - 1; i >= 0; i-- { // recent rows are likelier
				if sameKey(rows[i], r, idx) {
					replace(i, r)
					continue next
				}
			}
			rows = append(rows, r)
		}
		return rows
	}
	pos := make(map[string]int, len(rows))
	for i, r := range rows {
		pos[keyOf(r, idx)] = i
	}
	for _, r := range add {
		k := keyOf(r, idx)
		if p, ok := pos[k]; ok {
			replace(p, r)
			continue
		}
		pos[k] = len(rows)
		rows = append(rows, r)
	}
	return rows
}

// sameKey reports whether two rows have equal values in the key columns.
// Values are strings, float64s (never NaN, and -0 is 0), bools or nil,
// for which == is equality.
func sameKey(a, b []any, idx []int) bool {
	for _, i := range idx {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Trim drops the oldest rows of the data past the config's retention.
func (s *State) Trim() { s.Data.Rows = s.retain(s.Data.Rows, nil) }

// retain drops the oldest rows past the retention, and takes what they
// took from *size when size is not nil. It reslices rather than copies:
// the array is replaced, with only the kept rows, the next time append
// outgrows it, so a full chart's appends cost O(1) each and hold at most a
// retention's worth of dropped rows.
func (s *State) retain(rows [][]any, size *int) [][]any {
	if r := s.retention(); len(rows) > r {
		if size != nil {
			*size -= rowsBytes(rows[:len(rows)-r])
		}
		return rows[len(rows)-r:]
	}
	return rows
}

func (s *State) retention() int {
	if s.Config.Retention > 0 {
		return s.Config.Retention
	}
	return MaxRows
}

func (s *State) checkRows(rows [][]any) error {
	if len(s.Data.Columns) == 0 {
		return fieldErrorf("rows", "the chart has no columns yet; send a replace op first")
	}
	if err := validateRows(s.Data.Columns, rows); err != nil {
		return Under("rows", err)
	}
	return nil
}

// keyIndex returns the column positions of the config's key.
func (s *State) keyIndex(field string) ([]int, error) {
	if len(s.Config.Key) == 0 {
		return nil, fieldErrorf(field, "the chart has no key columns in its config; upsert and remove need one")
	}
	idx := make([]int, len(s.Config.Key))
	for i, k := range s.Config.Key {
		idx[i] = -1
		for j, c := range s.Data.Columns {
			if c.Name == k {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return nil, fieldErrorf(field, "key column %q is not in the table", k)
		}
	}
	return idx, nil
}

func cloneRows(rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = append([]any(nil), r...)
	}
	return out
}
