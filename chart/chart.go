package chart

import (
	"fmt"
	"regexp"
	"strings"
)

// Type is the kind of chart drawn.
type Type string

// The chart types.
const (
	Line    Type = "line"
	Bar     Type = "bar"
	Pie     Type = "pie"
	Area    Type = "area"
	Scatter Type = "scatter"
)

// Types lists every chart type, in the order a user would pick from.
var Types = []Type{Line, Bar, Pie, Area, Scatter}

func (t Type) valid() bool {
	for _, v := range Types {
		if t == v {
			return true
		}
	}
	return false
}

// Limits bound what one chart may hold, so that a single publisher cannot
// exhaust the server's memory.
const (
	MaxColumns     = 64
	MaxRows        = 100_000
	MaxStringBytes = 4096
	MaxTitleBytes  = 200
	MaxColors      = 32
)

// Encoding maps table columns to visual channels. Line, bar, area and scatter
// charts use X and Y, and optionally Series to split rows into one series per
// distinct value; pie charts use Category and Value.
type Encoding struct {
	X        string `json:"x,omitempty" yaml:"x,omitempty"`
	Y        string `json:"y,omitempty" yaml:"y,omitempty"`
	Series   string `json:"series,omitempty" yaml:"series,omitempty"`
	Category string `json:"category,omitempty" yaml:"category,omitempty"`
	Value    string `json:"value,omitempty" yaml:"value,omitempty"`
}

// Config is how a chart is drawn and how its table is maintained.
type Config struct {
	Type     Type     `json:"type" yaml:"type"`
	Title    string   `json:"title" yaml:"title"`
	Encoding Encoding `json:"encoding" yaml:"encoding"`
	// Colors are CSS hex colours (#rgb or #rrggbb) used for series in order.
	Colors []string `json:"colors,omitempty" yaml:"colors,omitempty"`
	// Key names the columns that identify a row, for upsert and remove.
	Key []string `json:"key,omitempty" yaml:"key,omitempty"`
	// Retention is the most rows the table keeps; append drops the oldest
	// rows past it. Zero means MaxRows.
	Retention int `json:"retention,omitempty" yaml:"retention,omitempty"`
	// MaxBytes is the byte budget of the chart's rows as JSON: an op that
	// would take them past it is refused (BudgetError). Zero means
	// DefaultMaxBytes; at most MaxMaxBytes.
	MaxBytes int `json:"max_bytes,omitempty" yaml:"max_bytes,omitempty"`
}

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Validate checks the config on its own: type, title, colours, retention,
// budget.
// Column references are checked against a table by ValidateFor.
func (c *Config) Validate() error {
	if !c.Type.valid() {
		return fieldErrorf("type", "unknown chart type %q (want one of line, bar, pie, area, scatter)", c.Type)
	}
	if strings.TrimSpace(c.Title) == "" {
		return fieldErrorf("title", "must not be empty")
	}
	if len(c.Title) > MaxTitleBytes {
		return fieldErrorf("title", "longer than %d bytes", MaxTitleBytes)
	}
	if len(c.Colors) > MaxColors {
		return fieldErrorf("colors", "more than %d colours", MaxColors)
	}
	for i, col := range c.Colors {
		if !colorRE.MatchString(col) {
			return fieldErrorf(fmt.Sprintf("colors[%d]", i), "%q is not a hex colour like #1f77b4", col)
		}
	}
	if c.Retention < 0 || c.Retention > MaxRows {
		return fieldErrorf("retention", "must be between 0 and %d", MaxRows)
	}
	if c.MaxBytes < 0 || c.MaxBytes > MaxMaxBytes {
		return fieldErrorf("max_bytes", "must be between 0 and %d (64 MiB)", MaxMaxBytes)
	}
	switch c.Type {
	case Pie:
		if c.Encoding.Category == "" {
			return fieldErrorf("encoding.category", "required for a pie chart")
		}
		if c.Encoding.Value == "" {
			return fieldErrorf("encoding.value", "required for a pie chart")
		}
	default:
		if c.Encoding.X == "" {
			return fieldErrorf("encoding.x", "required for a %s chart", c.Type)
		}
		if c.Encoding.Y == "" {
			return fieldErrorf("encoding.y", "required for a %s chart", c.Type)
		}
	}
	return nil
}

// ValidateFor checks the config and that every column it names exists in
// cols with a type that fits its channel.
func (c *Config) ValidateFor(cols []Column) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if len(cols) == 0 {
		// An empty table has no columns yet; the first replace brings them.
		return nil
	}
	find := func(name string) (Column, bool) {
		for _, col := range cols {
			if col.Name == name {
				return col, true
			}
		}
		return Column{}, false
	}
	check := func(field, name string, numeric bool) error {
		if name == "" {
			return nil
		}
		col, ok := find(name)
		if !ok {
			return fieldErrorf(field, "no column named %q", name)
		}
		if numeric && col.Type != Number {
			return fieldErrorf(field, "column %q is %s, want number", name, col.Type)
		}
		return nil
	}
	e := c.Encoding
	for _, ch := range []struct {
		field, name string
		numeric     bool
	}{
		{"encoding.x", e.X, c.Type == Scatter},
		{"encoding.y", e.Y, true},
		{"encoding.series", e.Series, false},
		{"encoding.category", e.Category, false},
		{"encoding.value", e.Value, true},
	} {
		if err := check(ch.field, ch.name, ch.numeric); err != nil {
			return err
		}
	}
	for i, k := range c.Key {
		if _, ok := find(k); !ok {
			return fieldErrorf(fmt.Sprintf("key[%d]", i), "no column named %q", k)
		}
	}
	return nil
}
