package chart

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// withRows returns the sales state holding rows instead of its own.
func withRows(rows ...[]any) func(*State) {
	return func(s *State) { s.Data.Rows = rows }
}

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*State) // edits salesState before the op, if set
		op    Op
		want  func(*State) // edits salesState into the expected state
	}{
		// replace
		{
			name: "replace swaps columns and rows",
			op: Op{Kind: OpReplace, Data: &Table{
				Columns: []Column{{"region", String}, {"amount", Number}, {"day", Time}},
				Rows:    [][]any{{"East", 5, "2024-02-01"}, {"West", int64(6), time.Date(2024, 2, 2, 0, 0, 0, 0, time.UTC)}},
			}},
			want: func(s *State) {
				s.Data = Table{
					Columns: []Column{{"region", String}, {"amount", Number}, {"day", Time}},
					Rows:    [][]any{{"East", 5.0, "2024-02-01"}, {"West", 6.0, "2024-02-02T00:00:00Z"}},
				}
			},
		},
		{
			name: "replace with no rows empties the table",
			op:   Op{Kind: OpReplace, Data: &Table{Columns: salesColumns()}},
			want: func(s *State) { s.Data.Rows = nil },
		},
		{
			name:  "replace on an empty table brings the columns",
			setup: func(s *State) { s.Data = Table{} },
			op:    Op{Kind: OpReplace, Data: &Table{Columns: salesColumns(), Rows: [][]any{{"North", "2024-01-01", 1.0, true}}}},
			want:  func(s *State) { s.Data.Rows = [][]any{{"North", "2024-01-01", 1.0, true}} },
		},
		{
			name: "replace with exactly retention rows",
			op: Op{Kind: OpReplace, Data: &Table{Columns: salesColumns(), Rows: [][]any{
				{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil}, {"D", nil, 4.0, nil}, {"E", nil, 5.0, nil},
			}}},
			want: func(s *State) {
				s.Data.Rows = [][]any{{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil}, {"D", nil, 4.0, nil}, {"E", nil, 5.0, nil}}
			},
		},

		// append
		{
			name: "append adds rows at the end",
			op:   Op{Kind: OpAppend, Rows: [][]any{{"East", "2024-01-03", 7, false}}},
			want: func(s *State) {
				s.Data.Rows = append(s.Data.Rows, []any{"East", "2024-01-03", 7.0, false})
			},
		},
		{
			name: "append past retention drops the oldest rows",
			op: Op{Kind: OpAppend, Rows: [][]any{
				{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil},
			}},
			want: withRows(
				[]any{"South", "2024-01-01", 20.0, false},
				[]any{"North", "2024-01-02", 30.0, nil},
				[]any{"A", nil, 1.0, nil}, []any{"B", nil, 2.0, nil}, []any{"C", nil, 3.0, nil},
			),
		},
		{
			name: "append of more rows than retention keeps the newest",
			op: Op{Kind: OpAppend, Rows: [][]any{
				{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil}, {"D", nil, 4.0, nil},
				{"E", nil, 5.0, nil}, {"F", nil, 6.0, nil}, {"G", nil, 7.0, nil},
			}},
			want: withRows(
				[]any{"C", nil, 3.0, nil}, []any{"D", nil, 4.0, nil}, []any{"E", nil, 5.0, nil},
				[]any{"F", nil, 6.0, nil}, []any{"G", nil, 7.0, nil},
			),
		},
		{
			name:  "append with retention one keeps the last row",
			setup: func(s *State) { s.Config.Retention = 1 },
			op:    Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0, nil}}},
			want: func(s *State) {
				s.Config.Retention = 1
				s.Data.Rows = [][]any{{"A", nil, 1.0, nil}}
			},
		},
		{
			name:  "append with zero retention keeps MaxRows",
			setup: func(s *State) { s.Config.Retention = 0 },
			op:    Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil}}},
			want: func(s *State) {
				s.Config.Retention = 0
				s.Data.Rows = append(s.Data.Rows, []any{"A", nil, 1.0, nil}, []any{"B", nil, 2.0, nil}, []any{"C", nil, 3.0, nil})
			},
		},
		{
			name: "append of no rows changes nothing",
			op:   Op{Kind: OpAppend, Rows: [][]any{}},
			want: func(s *State) {},
		},
		{
			name: "append does not need a key",
			setup: func(s *State) {
				s.Config.Key = nil
			},
			op: Op{Kind: OpAppend, Rows: [][]any{{"North", "2024-01-01", 10.0, true}}},
			want: func(s *State) {
				s.Config.Key = nil
				s.Data.Rows = append(s.Data.Rows, []any{"North", "2024-01-01", 10.0, true})
			},
		},

		// upsert
		{
			name: "upsert by composite key replaces in place and appends new keys",
			op: Op{Kind: OpUpsert, Rows: [][]any{
				{"East", "2024-01-01", 1.0, nil},
				{"North", "2024-01-01", 11.0, false},
			}},
			want: withRows(
				[]any{"North", "2024-01-01", 11.0, false},
				[]any{"South", "2024-01-01", 20.0, false},
				[]any{"North", "2024-01-02", 30.0, nil},
				[]any{"East", "2024-01-01", 1.0, nil},
			),
		},
		{
			name: "upsert matches on the whole composite key",
			op:   Op{Kind: OpUpsert, Rows: [][]any{{"South", "2024-01-02", 21.0, nil}}},
			want: func(s *State) {
				s.Data.Rows = append(s.Data.Rows, []any{"South", "2024-01-02", 21.0, nil})
			},
		},
		{
			name: "upsert by single key",
			setup: func(s *State) {
				s.Config.Key = []string{"day"}
			},
			op: Op{Kind: OpUpsert, Rows: [][]any{{"West", "2024-01-02", 99.0, true}}},
			want: func(s *State) {
				s.Config.Key = []string{"day"}
				s.Data.Rows[2] = []any{"West", "2024-01-02", 99.0, true}
			},
		},
		{
			name: "upsert key matches a number sent as a Go int",
			setup: func(s *State) {
				s.Config.Key = []string{"amount"}
			},
			op: Op{Kind: OpUpsert, Rows: [][]any{{"X", nil, 20, nil}}},
			want: func(s *State) {
				s.Config.Key = []string{"amount"}
				s.Data.Rows[1] = []any{"X", nil, 20.0, nil}
			},
		},
		{
			name: "upsert null key matches null",
			setup: func(s *State) {
				s.Config.Key = []string{"final"}
			},
			op: Op{Kind: OpUpsert, Rows: [][]any{{"X", nil, 0.0, nil}}},
			want: func(s *State) {
				s.Config.Key = []string{"final"}
				s.Data.Rows[2] = []any{"X", nil, 0.0, nil}
			},
		},
		{
			name: "upsert: a key repeated in the op keeps its last row",
			op: Op{Kind: OpUpsert, Rows: [][]any{
				{"East", "2024-01-05", 1.0, nil},
				{"East", "2024-01-05", 2.0, nil},
				{"North", "2024-01-02", 31.0, nil},
				{"North", "2024-01-02", 32.0, true},
			}},
			want: withRows(
				[]any{"North", "2024-01-01", 10.0, true},
				[]any{"South", "2024-01-01", 20.0, false},
				[]any{"North", "2024-01-02", 32.0, true},
				[]any{"East", "2024-01-05", 2.0, nil},
			),
		},
		{
			name: "upsert past retention drops the oldest rows",
			op: Op{Kind: OpUpsert, Rows: [][]any{
				{"South", "2024-01-01", 21.0, true},
				{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil},
			}},
			want: withRows(
				[]any{"South", "2024-01-01", 21.0, true},
				[]any{"North", "2024-01-02", 30.0, nil},
				[]any{"A", nil, 1.0, nil}, []any{"B", nil, 2.0, nil}, []any{"C", nil, 3.0, nil},
			),
		},

		// remove
		{
			name: "remove by composite key",
			op:   Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-01"}}},
			want: withRows(
				[]any{"South", "2024-01-01", 20.0, false},
				[]any{"North", "2024-01-02", 30.0, nil},
			),
		},
		{
			name: "remove several keys, one absent",
			op:   Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-02"}, {"Nowhere", "2024-01-01"}, {"South", "2024-01-01"}}},
			want: withRows([]any{"North", "2024-01-01", 10.0, true}),
		},
		{
			name: "remove of absent keys changes nothing",
			op:   Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-03"}, {"South", nil}}},
			want: func(s *State) {},
		},
		{
			name: "remove of no keys changes nothing",
			op:   Op{Kind: OpRemove, Keys: [][]any{}},
			want: func(s *State) {},
		},
		{
			name: "remove by single key removes every row with it",
			setup: func(s *State) {
				s.Config.Key = []string{"region"}
			},
			op: Op{Kind: OpRemove, Keys: [][]any{{"North"}}},
			want: func(s *State) {
				s.Config.Key = []string{"region"}
				s.Data.Rows = [][]any{{"South", "2024-01-01", 20.0, false}}
			},
		},
		{
			name: "remove of every row",
			op:   Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-01"}, {"South", "2024-01-01"}, {"North", "2024-01-02"}}},
			want: withRows(),
		},
		{
			name: "remove by number key sent as a Go int",
			setup: func(s *State) {
				s.Config.Key = []string{"amount"}
			},
			op: Op{Kind: OpRemove, Keys: [][]any{{30}}},
			want: func(s *State) {
				s.Config.Key = []string{"amount"}
				s.Data.Rows = s.Data.Rows[:2]
			},
		},
		{
			name: "remove by null key",
			setup: func(s *State) {
				s.Config.Key = []string{"final"}
			},
			op: Op{Kind: OpRemove, Keys: [][]any{{nil}}},
			want: func(s *State) {
				s.Config.Key = []string{"final"}
				s.Data.Rows = s.Data.Rows[:2]
			},
		},

		// config
		{
			name: "config replaces the whole config",
			op: Op{Kind: OpConfig, Config: &Config{
				Type: Pie, Title: "Share by region", Encoding: Encoding{Category: "region", Value: "amount"},
			}},
			want: func(s *State) {
				s.Config = Config{Type: Pie, Title: "Share by region", Encoding: Encoding{Category: "region", Value: "amount"}}
			},
		},
		{
			name: "config with smaller retention keeps the newest rows",
			op: Op{Kind: OpConfig, Config: &Config{
				Type: Line, Title: "Sales", Encoding: Encoding{X: "day", Y: "amount"}, Retention: 2,
			}},
			want: func(s *State) {
				s.Config = Config{Type: Line, Title: "Sales", Encoding: Encoding{X: "day", Y: "amount"}, Retention: 2}
				s.Data.Rows = s.Data.Rows[1:]
			},
		},
		{
			name: "config with zero retention keeps every row",
			op:   Op{Kind: OpConfig, Config: &Config{Type: Line, Title: "Sales", Encoding: Encoding{X: "day", Y: "amount"}}},
			want: func(s *State) {
				s.Config = Config{Type: Line, Title: "Sales", Encoding: Encoding{X: "day", Y: "amount"}}
			},
		},
		{
			name:  "config on an empty table is not checked against columns",
			setup: func(s *State) { s.Data = Table{} },
			op: Op{Kind: OpConfig, Config: &Config{
				Type: Scatter, Title: "Later", Encoding: Encoding{X: "h", Y: "w"}, Key: []string{"id"}, Retention: 1,
			}},
			want: func(s *State) {
				s.Data = Table{}
				s.Config = Config{Type: Scatter, Title: "Later", Encoding: Encoding{X: "h", Y: "w"}, Key: []string{"id"}, Retention: 1}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := salesState()
			if tt.setup != nil {
				tt.setup(&s)
			}
			want := salesState()
			if tt.want != nil {
				tt.want(&want)
			}
			if err := s.Apply(tt.op); err != nil {
				t.Fatalf("Apply() = %v, want nil", err)
			}
			if d := cmp.Diff(want, s, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("state after Apply (-want +got):\n%s", d)
			}
			wantNormalized(t, s.Data.Rows)
			// The result is a valid state.
			c := copyState(t, s)
			if err := c.Validate(); err != nil {
				t.Errorf("state after Apply does not validate: %v", err)
			}
		})
	}
}

func TestApplyErrorsLeaveStateUnchanged(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		setup     func(*State)
		op        Op
		wantField string
		wantMsg   []string
	}{
		// shape, as ParseOp checks it, for ops built in Go
		{name: "zero op", op: Op{}, wantField: "op"},
		{name: "unknown kind", op: Op{Kind: "truncate", Rows: [][]any{}}, wantField: "op"},
		{name: "replace without data", op: Op{Kind: OpReplace}, wantField: "data"},
		{name: "replace with rows too", op: Op{Kind: OpReplace, Data: &Table{Columns: salesColumns()}, Rows: [][]any{}}, wantField: "rows"},
		{name: "append without rows", op: Op{Kind: OpAppend}, wantField: "rows"},
		{name: "remove with config too", op: Op{Kind: OpRemove, Keys: [][]any{}, Config: &Config{}}, wantField: "config"},
		{name: "config without config", op: Op{Kind: OpConfig, Keys: [][]any{}}, wantField: "config"},

		// replace
		{name: "replace with no columns", op: Op{Kind: OpReplace, Data: &Table{}}, wantField: "data.columns"},
		{name: "replace with a bad column name", op: Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"a b", String}}}}, wantField: "data.columns[0].name"},
		{name: "replace with a bad value",
			op: Op{Kind: OpReplace, Data: &Table{Columns: salesColumns(), Rows: [][]any{
				{"A", nil, 1.0, nil}, {"B", nil, "2", nil},
			}}},
			wantField: "data.rows[1][2]"},
		{name: "replace with a short row",
			op:        Op{Kind: OpReplace, Data: &Table{Columns: salesColumns(), Rows: [][]any{{"A", nil, 1.0}}}},
			wantField: "data.rows[0]"},
		{name: "replace without the y column",
			op:        Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"region", String}, {"day", Time}}}},
			wantField: "data.columns", wantMsg: []string{"encoding.y", `"amount"`}},
		{name: "replace with y not numeric",
			op:        Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"region", String}, {"day", Time}, {"amount", String}}}},
			wantField: "data.columns", wantMsg: []string{"encoding.y", "number"}},
		{name: "replace without a key column",
			op:        Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"region", String}, {"amount", Number}}}},
			wantField: "data.columns", wantMsg: []string{`"day"`}},
		{name: "replace of a scatter chart with x not numeric",
			setup: func(s *State) {
				s.Config = Config{Type: Scatter, Title: "t", Encoding: Encoding{X: "amount", Y: "amount"}}
			},
			op:        Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"amount", String}}}},
			wantField: "data.columns", wantMsg: []string{"encoding.x"}},
		{name: "replace of a pie chart without its value column",
			setup: func(s *State) {
				s.Config = Config{Type: Pie, Title: "t", Encoding: Encoding{Category: "region", Value: "amount"}}
			},
			op:        Op{Kind: OpReplace, Data: &Table{Columns: []Column{{"region", String}, {"total", Number}}}},
			wantField: "data.columns", wantMsg: []string{"encoding.value"}},
		{name: "replace with more rows than retention",
			op: Op{Kind: OpReplace, Data: &Table{Columns: salesColumns(), Rows: [][]any{
				{"A", nil, 1.0, nil}, {"B", nil, 2.0, nil}, {"C", nil, 3.0, nil}, {"D", nil, 4.0, nil}, {"E", nil, 5.0, nil}, {"F", nil, 6.0, nil},
			}}},
			wantField: "data.rows", wantMsg: []string{"6", "5"}},

		// append
		{name: "append a short row", op: Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0}}}, wantField: "rows[0]"},
		{name: "append a long row", op: Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0, nil}, {"A", nil, 1.0, nil, nil}}}, wantField: "rows[1]"},
		{name: "append a good row then a bad one",
			op:        Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0, nil}, {"B", nil, "2", nil}}},
			wantField: "rows[1][2]", wantMsg: []string{`"amount"`}},
		{name: "append NaN", op: Op{Kind: OpAppend, Rows: [][]any{{"A", nil, nan, nil}}}, wantField: "rows[0][2]"},
		{name: "append a bad time", op: Op{Kind: OpAppend, Rows: [][]any{{"A", "yesterday", 1.0, nil}}}, wantField: "rows[0][1]"},
		{name: "append a bad bool", op: Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0, "yes"}}}, wantField: "rows[0][3]"},
		{name: "append before any replace",
			setup:     func(s *State) { s.Data = Table{} },
			op:        Op{Kind: OpAppend, Rows: [][]any{{"A"}}},
			wantField: "rows", wantMsg: []string{"replace"}},

		// upsert
		{name: "upsert without key config",
			setup:     func(s *State) { s.Config.Key = nil },
			op:        Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01", 1.0, nil}}},
			wantField: "rows", wantMsg: []string{"key"}},
		{name: "upsert with a key column not in the table",
			setup:     func(s *State) { s.Config.Key = []string{"region", "store"} },
			op:        Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01", 1.0, nil}}},
			wantField: "rows", wantMsg: []string{`"store"`}},
		{name: "upsert a bad value after a matching row",
			op:        Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01", 1.0, nil}, {"North", "2024-01-02", true, nil}}},
			wantField: "rows[1][2]"},
		{name: "upsert a short row", op: Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01"}}}, wantField: "rows[0]"},
		{name: "upsert before any replace",
			setup:     func(s *State) { s.Data = Table{} },
			op:        Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01", 1.0, nil}}},
			wantField: "rows"},

		// remove
		{name: "remove without key config",
			setup:     func(s *State) { s.Config.Key = nil },
			op:        Op{Kind: OpRemove, Keys: [][]any{{"North"}}},
			wantField: "keys", wantMsg: []string{"key"}},
		{name: "remove with a key column not in the table",
			setup:     func(s *State) { s.Config.Key = []string{"store"} },
			op:        Op{Kind: OpRemove, Keys: [][]any{{"North"}}},
			wantField: "keys", wantMsg: []string{`"store"`}},
		{name: "remove with a short key", op: Op{Kind: OpRemove, Keys: [][]any{{"North"}}}, wantField: "keys[0]"},
		{name: "remove with a long key", op: Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-01", 10.0}}}, wantField: "keys[0]"},
		{name: "remove with a good key then a bad one",
			op:        Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-01"}, {"South", 20.0}}},
			wantField: "keys[1][1]"},
		{name: "remove with a key of the wrong type",
			op:        Op{Kind: OpRemove, Keys: [][]any{{1.0, "2024-01-01"}}},
			wantField: "keys[0][0]", wantMsg: []string{`"region"`}},
		{name: "remove before any replace",
			setup:     func(s *State) { s.Data = Table{} },
			op:        Op{Kind: OpRemove, Keys: [][]any{{"North", "2024-01-01"}}},
			wantField: "keys"},

		// config
		{name: "config with an empty title",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Encoding: Encoding{X: "region", Y: "amount"}}},
			wantField: "config.title"},
		{name: "config with a bad colour",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "amount"}, Colors: []string{"#fff", "blue"}}},
			wantField: "config.colors[1]"},
		{name: "config with negative retention",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "amount"}, Retention: -1}},
			wantField: "config.retention"},
		{name: "config without y",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region"}}},
			wantField: "config.encoding.y"},
		{name: "config with y not a column",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "total"}}},
			wantField: "config.encoding.y"},
		{name: "config with y not numeric",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "day"}}},
			wantField: "config.encoding.y"},
		{name: "config of a scatter chart with string x",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Scatter, Title: "t", Encoding: Encoding{X: "region", Y: "amount"}}},
			wantField: "config.encoding.x"},
		{name: "config with a key not a column",
			op:        Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "amount"}, Key: []string{"region", "store"}, Retention: 1}},
			wantField: "config.key[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := salesState()
			if tt.setup != nil {
				tt.setup(&s)
			}
			before := copyState(t, s)
			fe := wantFieldError(t, s.Apply(tt.op), tt.wantField)
			wantMessageContains(t, fe, tt.wantMsg...)
			wantUnchanged(t, before, s)
		})
	}
}

// Apply keeps no reference to the op: a publisher may reuse its buffers.
func TestApplyDoesNotAliasOp(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*State)
		op     Op
		mutate func(op *Op)
	}{
		{
			name: "replace",
			op:   Op{Kind: OpReplace, Data: &Table{Columns: salesColumns(), Rows: [][]any{{"A", nil, 1.0, nil}}}},
			mutate: func(op *Op) {
				op.Data.Columns[0].Name = "changed"
				op.Data.Rows[0][0] = "changed"
			},
		},
		{
			name:   "append",
			op:     Op{Kind: OpAppend, Rows: [][]any{{"A", nil, 1.0, nil}}},
			mutate: func(op *Op) { op.Rows[0][0] = "changed" },
		},
		{
			name:   "upsert",
			op:     Op{Kind: OpUpsert, Rows: [][]any{{"North", "2024-01-01", 1.0, nil}, {"A", nil, 1.0, nil}}},
			mutate: func(op *Op) { op.Rows[0][2] = 99.0; op.Rows[1][0] = "changed" },
		},
		{
			name: "config",
			op: Op{Kind: OpConfig, Config: &Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "amount"},
				Colors: []string{"#fff"}, Key: []string{"region"}}},
			mutate: func(op *Op) {
				op.Config.Title = "changed"
				op.Config.Colors[0] = "changed"
				op.Config.Key[0] = "changed"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := salesState()
			if err := s.Apply(tt.op); err != nil {
				t.Fatalf("Apply() = %v, want nil", err)
			}
			after := copyState(t, s)
			tt.mutate(&tt.op)
			wantUnchangedByOp(t, after, s)
		})
	}
}

func wantUnchangedByOp(t *testing.T, after, got State) {
	t.Helper()
	if d := cmp.Diff(after, got); d != "" {
		t.Errorf("state changed through the applied op (-after Apply +after changing the op):\n%s", d)
	}
}

// A sequence of ops as a publisher sends them, each checked against the
// exact state it should leave.
func TestApplySequence(t *testing.T) {
	s := State{Config: Config{Type: Line, Title: "Temps", Encoding: Encoding{X: "at", Y: "c", Series: "room"}}}
	steps := []struct {
		op   string
		want Table
	}{
		{
			op: `{"op":"replace","data":{"columns":[{"name":"at","type":"time"},{"name":"room","type":"string"},{"name":"c","type":"number"}],"rows":[["2024-01-01T00:00:00Z","hall",19.5]]}}`,
			want: Table{Columns: []Column{{"at", Time}, {"room", String}, {"c", Number}},
				Rows: [][]any{{"2024-01-01T00:00:00Z", "hall", 19.5}}},
		},
		{
			op: `{"op":"config","config":{"type":"line","title":"Temps","encoding":{"x":"at","y":"c","series":"room"},"key":["at","room"],"retention":3}}`,
			want: Table{Columns: []Column{{"at", Time}, {"room", String}, {"c", Number}},
				Rows: [][]any{{"2024-01-01T00:00:00Z", "hall", 19.5}}},
		},
		{
			op: `{"op":"append","rows":[["2024-01-01T00:00:00Z","attic",12],["2024-01-01T01:00:00Z","hall",19]]}`,
			want: Table{Columns: []Column{{"at", Time}, {"room", String}, {"c", Number}},
				Rows: [][]any{{"2024-01-01T00:00:00Z", "hall", 19.5}, {"2024-01-01T00:00:00Z", "attic", 12.0}, {"2024-01-01T01:00:00Z", "hall", 19.0}}},
		},
		{
			op: `{"op":"upsert","rows":[["2024-01-01T00:00:00Z","attic",12.5],["2024-01-01T01:00:00Z","attic",11]]}`,
			want: Table{Columns: []Column{{"at", Time}, {"room", String}, {"c", Number}},
				Rows: [][]any{{"2024-01-01T00:00:00Z", "attic", 12.5}, {"2024-01-01T01:00:00Z", "hall", 19.0}, {"2024-01-01T01:00:00Z", "attic", 11.0}}},
		},
		{
			op: `{"op":"remove","keys":[["2024-01-01T01:00:00Z","hall"]]}`,
			want: Table{Columns: []Column{{"at", Time}, {"room", String}, {"c", Number}},
				Rows: [][]any{{"2024-01-01T00:00:00Z", "attic", 12.5}, {"2024-01-01T01:00:00Z", "attic", 11.0}}},
		},
	}
	for i, st := range steps {
		op, err := ParseOp([]byte(st.op))
		if err != nil {
			t.Fatalf("step %d: ParseOp() = %v", i, err)
		}
		if err := s.Apply(op); err != nil {
			t.Fatalf("step %d: Apply(%s) = %v", i, op.Kind, err)
		}
		if d := cmp.Diff(st.want, s.Data, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("step %d (%s): table (-want +got):\n%s", i, op.Kind, d)
		}
	}
}

// Numerically equal keys must identify the same row; JSON -0 decodes to a
// negative zero, which a publisher's arithmetic can produce.
func TestApplyUpsertNegativeZeroKey(t *testing.T) {
	s := State{
		Config: Config{Type: Line, Title: "t", Encoding: Encoding{X: "k", Y: "v"}, Key: []string{"k"}},
		Data:   Table{Columns: []Column{{"k", Number}, {"v", Number}}, Rows: [][]any{{0.0, 1.0}}},
	}
	op, err := ParseOp([]byte(`{"op":"upsert","rows":[[-0,2]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(op); err != nil {
		t.Fatal(err)
	}
	if len(s.Data.Rows) != 1 || s.Data.Rows[0][1] != 2.0 {
		t.Errorf("rows after upsert of key -0 over key 0 = %v, want [[0 2]] or [[-0 2]]", s.Data.Rows)
	}
}

// TestCheckLeavesStateAndNormalizesOp checks what the engine relies on:
// Check changes no state, normalizes the op as Apply would, and an op that
// passed Check applies without error.
func TestCheckLeavesStateAndNormalizesOp(t *testing.T) {
	ops := []Op{
		{Kind: OpAppend, Rows: [][]any{{"d", 4}}},
		{Kind: OpUpsert, Rows: [][]any{{"a", int64(10)}, {"z", float32(26)}}},
		{Kind: OpRemove, Keys: [][]any{{"b"}}},
		{Kind: OpReplace, Data: &Table{Columns: []Column{{"k", String}, {"v", Number}}, Rows: [][]any{{"q", 1}}}},
		{Kind: OpConfig, Config: &Config{Type: Bar, Title: "u", Encoding: Encoding{X: "k", Y: "v"}, Key: []string{"k"}, Retention: 1}},
	}
	for _, op := range ops {
		t.Run(string(op.Kind), func(t *testing.T) {
			s := State{
				Config: Config{Type: Line, Title: "t", Encoding: Encoding{X: "k", Y: "v"}, Key: []string{"k"}, Retention: 4},
				Data:   Table{Columns: []Column{{"k", String}, {"v", Number}}, Rows: [][]any{{"a", 1.0}, {"b", 2.0}, {"c", 3.0}}},
			}
			before := copyState(t, s)
			if err := s.Check(op); err != nil {
				t.Fatal(err)
			}
			wantUnchanged(t, before, s)
			for _, rows := range [][][]any{op.Rows, op.Keys} {
				wantNormalized(t, rows)
			}
			if err := s.Apply(op); err != nil {
				t.Fatalf("Apply after Check: %v", err)
			}
		})
	}
}
