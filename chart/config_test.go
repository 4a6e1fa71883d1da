package chart

import (
	"fmt"
	"strings"
	"testing"
)

func lineConfig() Config {
	return Config{Type: Line, Title: "Sales", Encoding: Encoding{X: "day", Y: "amount"}}
}

func pieConfig() Config {
	return Config{Type: Pie, Title: "Share", Encoding: Encoding{Category: "region", Value: "amount"}}
}

func manyColors(n int) []string {
	c := make([]string, n)
	for i := range c {
		c[i] = fmt.Sprintf("#%06x", i)
	}
	return c
}

func TestFieldErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  *FieldError
		want string
	}{
		{"with field", &FieldError{Field: "rows[3][1]", Message: "must be finite"}, "rows[3][1]: must be finite"},
		{"without field", &FieldError{Message: "malformed JSON"}, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(c *Config)
		base      func() Config // lineConfig when nil
		wantField string        // "" for a valid config
	}{
		{name: "line is valid"},
		{name: "bar is valid", edit: func(c *Config) { c.Type = Bar }},
		{name: "area is valid", edit: func(c *Config) { c.Type = Area }},
		{name: "scatter is valid", edit: func(c *Config) { c.Type = Scatter }},
		{name: "pie is valid", base: pieConfig},
		{name: "every field set is valid", edit: func(c *Config) {
			c.Encoding.Series = "region"
			c.Colors = []string{"#abc", "#ABCDEF", "#0f0F0f"}
			c.Key = []string{"day"}
			c.Retention = 10
		}},

		{name: "empty type", edit: func(c *Config) { c.Type = "" }, wantField: "type"},
		{name: "unknown type", edit: func(c *Config) { c.Type = "histogram" }, wantField: "type"},
		{name: "type is case sensitive", edit: func(c *Config) { c.Type = "Line" }, wantField: "type"},
		{name: "bad type is reported before bad title", edit: func(c *Config) { c.Type = "x"; c.Title = "" }, wantField: "type"},

		{name: "empty title", edit: func(c *Config) { c.Title = "" }, wantField: "title"},
		{name: "blank title", edit: func(c *Config) { c.Title = " \t\n " }, wantField: "title"},
		{name: "title of MaxTitleBytes", edit: func(c *Config) { c.Title = strings.Repeat("t", MaxTitleBytes) }},
		{name: "title over MaxTitleBytes", edit: func(c *Config) { c.Title = strings.Repeat("t", MaxTitleBytes+1) }, wantField: "title"},
		{name: "title limit counts bytes: 100 two-byte runes fit", edit: func(c *Config) { c.Title = strings.Repeat("é", MaxTitleBytes/2) }},
		{name: "title limit counts bytes: 101 two-byte runes do not", edit: func(c *Config) { c.Title = strings.Repeat("é", MaxTitleBytes/2+1) }, wantField: "title"},

		{name: "MaxColors colours", edit: func(c *Config) { c.Colors = manyColors(MaxColors) }},
		{name: "too many colours", edit: func(c *Config) { c.Colors = manyColors(MaxColors + 1) }, wantField: "colors"},
		{name: "colour without #", edit: func(c *Config) { c.Colors = []string{"1f77b4"} }, wantField: "colors[0]"},
		{name: "colour name", edit: func(c *Config) { c.Colors = []string{"#abc", "red"} }, wantField: "colors[1]"},
		{name: "four hex digits", edit: func(c *Config) { c.Colors = []string{"#abc", "#fff", "#abcd"} }, wantField: "colors[2]"},
		{name: "seven hex digits", edit: func(c *Config) { c.Colors = []string{"#1234567"} }, wantField: "colors[0]"},
		{name: "non-hex digit", edit: func(c *Config) { c.Colors = []string{"#ggg"} }, wantField: "colors[0]"},
		{name: "empty colour", edit: func(c *Config) { c.Colors = []string{""} }, wantField: "colors[0]"},
		{name: "colour with trailing newline", edit: func(c *Config) { c.Colors = []string{"#abc\n"} }, wantField: "colors[0]"},
		{name: "colour with leading space", edit: func(c *Config) { c.Colors = []string{" #abc"} }, wantField: "colors[0]"},

		{name: "retention zero", edit: func(c *Config) { c.Retention = 0 }},
		{name: "retention one", edit: func(c *Config) { c.Retention = 1 }},
		{name: "retention MaxRows", edit: func(c *Config) { c.Retention = MaxRows }},
		{name: "negative retention", edit: func(c *Config) { c.Retention = -1 }, wantField: "retention"},
		{name: "retention over MaxRows", edit: func(c *Config) { c.Retention = MaxRows + 1 }, wantField: "retention"},

		{name: "line without x", edit: func(c *Config) { c.Encoding.X = "" }, wantField: "encoding.x"},
		{name: "line without y", edit: func(c *Config) { c.Encoding.Y = "" }, wantField: "encoding.y"},
		{name: "bar without x", edit: func(c *Config) { c.Type = Bar; c.Encoding.X = "" }, wantField: "encoding.x"},
		{name: "bar without y", edit: func(c *Config) { c.Type = Bar; c.Encoding.Y = "" }, wantField: "encoding.y"},
		{name: "area without x", edit: func(c *Config) { c.Type = Area; c.Encoding.X = "" }, wantField: "encoding.x"},
		{name: "area without y", edit: func(c *Config) { c.Type = Area; c.Encoding.Y = "" }, wantField: "encoding.y"},
		{name: "scatter without x", edit: func(c *Config) { c.Type = Scatter; c.Encoding.X = "" }, wantField: "encoding.x"},
		{name: "scatter without y", edit: func(c *Config) { c.Type = Scatter; c.Encoding.Y = "" }, wantField: "encoding.y"},
		{name: "line with only category and value", edit: func(c *Config) {
			c.Encoding = Encoding{Category: "region", Value: "amount"}
		}, wantField: "encoding.x"},
		{name: "pie without category", base: pieConfig, edit: func(c *Config) { c.Encoding.Category = "" }, wantField: "encoding.category"},
		{name: "pie without value", base: pieConfig, edit: func(c *Config) { c.Encoding.Value = "" }, wantField: "encoding.value"},
		{name: "pie with only x and y", base: pieConfig, edit: func(c *Config) {
			c.Encoding = Encoding{X: "day", Y: "amount"}
		}, wantField: "encoding.category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.base
			if base == nil {
				base = lineConfig
			}
			c := base()
			if tt.edit != nil {
				tt.edit(&c)
			}
			err := c.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantFieldError(t, err, tt.wantField)
		})
	}
}

func TestConfigValidateMessages(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{"unknown type names it and the choices", Config{Type: "donut", Title: "t"}, []string{`"donut"`, "line", "pie", "scatter"}},
		{"bad colour names it", Config{Type: Line, Title: "t", Colors: []string{"blue"}}, []string{`"blue"`}},
		{"retention names the bound", Config{Type: Line, Title: "t", Retention: -5}, []string{"100000"}},
		{"missing channel names the chart type", Config{Type: Area, Title: "t", Encoding: Encoding{Y: "v"}}, []string{"area"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("Validate() = %v (%T), want a *FieldError", err, err)
			}
			wantMessageContains(t, fe, tt.want...)
		})
	}
}

func TestConfigValidateFor(t *testing.T) {
	cols := []Column{
		{Name: "day", Type: Time},
		{Name: "region", Type: String},
		{Name: "amount", Type: Number},
		{Name: "count", Type: Number},
		{Name: "final", Type: Bool},
	}
	tests := []struct {
		name      string
		c         Config
		cols      []Column // cols when nil and noCols is false
		noCols    bool
		wantField string
	}{
		{name: "line fits", c: lineConfig()},
		{name: "line with time x and series fits", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount", Series: "region"}}},
		{name: "bar with string x fits", c: Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "amount"}}},
		{name: "bar with bool x and series fits", c: Config{Type: Bar, Title: "t", Encoding: Encoding{X: "final", Y: "amount", Series: "final"}}},
		{name: "scatter with numeric x fits", c: Config{Type: Scatter, Title: "t", Encoding: Encoding{X: "count", Y: "amount"}}},
		{name: "pie fits", c: pieConfig()},
		{name: "pie with numeric category fits", c: Config{Type: Pie, Title: "t", Encoding: Encoding{Category: "count", Value: "amount"}}},
		{name: "single key fits", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}, Key: []string{"day"}}},
		{name: "composite key fits", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}, Key: []string{"region", "day"}}},

		{name: "no columns yet: references are not checked", noCols: true,
			c: Config{Type: Scatter, Title: "t", Encoding: Encoding{X: "nope", Y: "nope"}, Key: []string{"nope"}}},
		{name: "no columns yet: config itself is checked", noCols: true, c: Config{Type: Line, Title: ""}, wantField: "title"},
		{name: "config errors come first", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "nope"}}, wantField: "encoding.y"},

		{name: "x not a column", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "nope", Y: "amount"}}, wantField: "encoding.x"},
		{name: "x column name is case sensitive", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "Day", Y: "amount"}}, wantField: "encoding.x"},
		{name: "scatter x not numeric", c: Config{Type: Scatter, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}}, wantField: "encoding.x"},
		{name: "y not a column", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "nope"}}, wantField: "encoding.y"},
		{name: "y string", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "region"}}, wantField: "encoding.y"},
		{name: "y time", c: Config{Type: Bar, Title: "t", Encoding: Encoding{X: "region", Y: "day"}}, wantField: "encoding.y"},
		{name: "y bool", c: Config{Type: Area, Title: "t", Encoding: Encoding{X: "day", Y: "final"}}, wantField: "encoding.y"},
		{name: "series not a column", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount", Series: "nope"}}, wantField: "encoding.series"},
		{name: "pie category not a column", c: Config{Type: Pie, Title: "t", Encoding: Encoding{Category: "nope", Value: "amount"}}, wantField: "encoding.category"},
		{name: "pie value not a column", c: Config{Type: Pie, Title: "t", Encoding: Encoding{Category: "region", Value: "nope"}}, wantField: "encoding.value"},
		{name: "pie value string", c: Config{Type: Pie, Title: "t", Encoding: Encoding{Category: "region", Value: "region"}}, wantField: "encoding.value"},
		{name: "key not a column", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}, Key: []string{"nope"}}, wantField: "key[0]"},
		{name: "second key not a column", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}, Key: []string{"region", "nope"}}, wantField: "key[1]"},
		{name: "empty key name", c: Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}, Key: []string{""}}, wantField: "key[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cols
			if tt.noCols {
				c = nil
			}
			err := tt.c.ValidateFor(c)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ValidateFor() = %v, want nil", err)
				}
				return
			}
			wantFieldError(t, err, tt.wantField)
		})
	}
}

func TestConfigValidateForMessages(t *testing.T) {
	cols := []Column{{Name: "day", Type: Time}, {Name: "label", Type: String}, {Name: "n", Type: Number}}
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{"missing column is named", Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "amount"}}, []string{`"amount"`}},
		{"wrong type names column and types", Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "label"}}, []string{`"label"`, "string", "number"}},
		{"missing key column is named", Config{Type: Line, Title: "t", Encoding: Encoding{X: "day", Y: "n"}, Key: []string{"id"}}, []string{`"id"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.ValidateFor(cols)
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("ValidateFor() = %v (%T), want a *FieldError", err, err)
			}
			wantMessageContains(t, fe, tt.want...)
		})
	}
}

func TestStateValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(s *State)
		wantField string
	}{
		{name: "sales state is valid"},
		{name: "empty table is valid", edit: func(s *State) { s.Data = Table{} }},
		{name: "config without its columns is valid on an empty table", edit: func(s *State) {
			s.Data = Table{}
			s.Config.Key = []string{"id"}
		}},
		{name: "bad config", edit: func(s *State) { s.Config.Title = "" }, wantField: "config.title"},
		{name: "bad column", edit: func(s *State) { s.Data.Columns[1].Type = "date" }, wantField: "data.columns[1].type"},
		{name: "bad value", edit: func(s *State) { s.Data.Rows[2][2] = "30" }, wantField: "data.rows[2][2]"},
		{name: "rows without columns", edit: func(s *State) { s.Data.Columns = nil }, wantField: "data.columns"},
		{name: "encoding not fitting the columns", edit: func(s *State) { s.Config.Encoding.Y = "region" }, wantField: "config.encoding.y"},
		{name: "key not in the columns", edit: func(s *State) { s.Config.Key = []string{"region", "store"} }, wantField: "config.key[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := salesState()
			if tt.edit != nil {
				tt.edit(&s)
			}
			err := s.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantFieldError(t, err, tt.wantField)
		})
	}
}

// A state holding more rows than its config's retention breaks the invariant
// that Apply keeps (replace refuses such data, append and config trim to it),
// so a definition carrying one must be refused.
func TestStateValidateRowsOverRetention(t *testing.T) {
	s := salesState()
	s.Config.Retention = 2
	err := s.Validate()
	if fe, ok := err.(*FieldError); !ok || fe.Field == "" {
		t.Fatalf("Validate() of 3 rows with retention 2 = %v, want a *FieldError naming the rows or the retention", err)
	}
}
