package chart

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// The byte budget of a chart's data: the most bytes its rows may take as
// JSON, as viewers get them in a snapshot and the server saves them.
// Rows bound how many values a chart holds; the budget bounds how large
// they are together, so that one publisher's chart cannot take the
// server's memory (100,000 rows of 4 KiB strings would be 400 MiB).
const (
	// DefaultMaxBytes is the budget of a chart whose config sets none.
	DefaultMaxBytes = 4 << 20
	// MaxMaxBytes is the largest budget a config may set.
	MaxMaxBytes = 64 << 20
)

// BudgetError is the refusal of an op that would leave a chart's data
// larger than its budget, and larger than it was.
type BudgetError struct {
	// Bytes is what the data would take after the op.
	Bytes int
	// Budget is the chart's budget.
	Budget int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("the chart's data would take %d bytes, more than its budget of %d bytes (config max_bytes)", e.Bytes, e.Budget)
}

// Sized is a State that keeps count of what its rows take as JSON, and
// keeps them within the chart's budget. Its data changes only through
// Apply.
type Sized struct {
	State
	size int
}

// NewSized returns st, sized. It does not check st against its budget
// (State.Validate does): a state saved before a lower budget stays.
func NewSized(st State) Sized { return Sized{State: st, size: rowsBytes(st.Data.Rows)} }

// Bytes returns what the rows take as JSON.
func (s *Sized) Bytes() int { return s.size }

// Check is State.Check, and refuses with a *BudgetError an op that would
// leave the rows over the chart's budget and larger than they are. An op
// that shrinks them is taken, so that a chart over its budget (a lower one
// in a new definition) can be brought back under it.
func (s *Sized) Check(op Op) error {
	if err := s.State.Check(op); err != nil {
		return err
	}
	return s.checkBudget(op)
}

// Apply checks op (see Check) and applies it. On error the state is
// unchanged.
func (s *Sized) Apply(op Op) error {
	if err := s.Check(op); err != nil {
		return err
	}
	s.apply(op, &s.size)
	return nil
}

// budget returns the chart's byte budget.
func (s *State) budget() int {
	if s.Config.MaxBytes > 0 {
		return s.Config.MaxBytes
	}
	return DefaultMaxBytes
}

// checkBudget is Check's budget part, for an op State.Check took.
func (s *Sized) checkBudget(op Op) error {
	before, budget := s.size, s.budget()
	var after int
	switch op.Kind {
	case OpReplace:
		after = rowsBytes(op.Data.Rows)
	case OpAppend:
		after = before + rowsBytes(op.Rows)
		if after <= budget {
			return nil
		}
		// The oldest rows past the retention are dropped, some of the
		// added ones too when they alone are more than it keeps.
		drop := len(s.Data.Rows) + len(op.Rows) - s.retention()
		for i := 0; i < drop; i++ {
			if i < len(s.Data.Rows) {
				after -= rowBytes(s.Data.Rows[i])
			} else {
				after -= rowBytes(op.Rows[i-len(s.Data.Rows)])
			}
		}
	case OpUpsert:
		// Rows that replace others make the data smaller than this.
		after = before + rowsBytes(op.Rows)
		if after <= budget {
			return nil
		}
		idx, _ := s.keyIndex("rows")
		rows := upsert(append([][]any(nil), s.Data.Rows...), op.Rows, idx, nil)
		after = rowsBytes(s.retain(rows, nil))
	default:
		// remove and config keep or drop rows: never larger.
		return nil
	}
	if after > budget && after > before {
		return &BudgetError{Bytes: after, Budget: budget}
	}
	return nil
}

// rowsBytes returns what rows take as the elements of a JSON array: each
// row's encoding and the comma after it.
func rowsBytes(rows [][]any) int {
	n := 0
	for _, r := range rows {
		n += rowBytes(r)
	}
	return n
}

// rowBytes returns what one row takes as JSON, with the comma that
// separates it from the next.
func rowBytes(row []any) int {
	n := 3 // [ ] and the comma after
	if len(row) > 0 {
		n += len(row) - 1 // the commas between values
	}
	var buf [32]byte
	for _, v := range row {
		switch v := v.(type) {
		case nil:
			n += 4
		case bool:
			if v {
				n += 4
			} else {
				n += 5
			}
		case float64:
			n += numberBytes(buf[:0], v)
		case string:
			n += stringBytes(v)
		}
	}
	return n
}

// stringBytes returns what s takes as a JSON string: its quotes, its
// bytes, and what escaping adds (\" \\ \n, \u00XX for other control
// characters, \ufffd for each byte of invalid UTF-8, \u2028 and \u2029).
func stringBytes(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n++
			case c < 0x20:
				n += 5
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5 // \ufffd for one byte
		case r == '\u2028' || r == '\u2029':
			n += 3 // \u2028 for three bytes
		}
		i += size
	}
	return n
}

// numberBytes returns what f takes as JSON, formatted as encoding/json
// formats a float64 (into buf, which it may grow).
func numberBytes(buf []byte, f float64) int {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(buf, f, format, -1, 64)
	n := len(b)
	if format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		n-- // e-07 is written e-7
	}
	return n
}
