package dashboard

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
)

// salesYAML is a valid dashboard with a push chart (no width: the default)
// and a SQL-bound chart that sets every field.
const salesYAML = `
id: sales
title: Sales
description: Orders by region.
charts:
  - id: orders
    type: line
    title: Orders
    encoding: {x: t, y: n}
  - id: by-region
    type: bar
    title: By region
    width: 12
    encoding: {x: region, y: total, series: product}
    colors: ["#3b82f6", "#fff"]
    key: [region, product]
    retention: 100
    query:
      source: shop
      interval: 1m30s
      params:
        region: {default: "", label: Region}
        limit: {default: "10"}
      sql: |
        SELECT region, product, sum(amount) AS total FROM sales
        WHERE (:region = '' OR region = :region) GROUP BY 1, 2 LIMIT :limit
`

func salesDashboard() Dashboard {
	return Dashboard{
		ID:          "sales",
		Title:       "Sales",
		Description: "Orders by region.",
		Charts: []Chart{
			{
				ID:    "orders",
				Width: DefaultWidth,
				Config: chart.Config{
					Type:     chart.Line,
					Title:    "Orders",
					Encoding: chart.Encoding{X: "t", Y: "n"},
				},
			},
			{
				ID:    "by-region",
				Width: 12,
				Config: chart.Config{
					Type:      chart.Bar,
					Title:     "By region",
					Encoding:  chart.Encoding{X: "region", Y: "total", Series: "product"},
					Colors:    []string{"#3b82f6", "#fff"},
					Key:       []string{"region", "product"},
					Retention: 100,
				},
				Query: &Query{
					Source: "shop",
					SQL: "SELECT region, product, sum(amount) AS total FROM sales\n" +
						"WHERE (:region = '' OR region = :region) GROUP BY 1, 2 LIMIT :limit\n",
					Params: map[string]Param{
						"region": {Default: "", Label: "Region"},
						"limit":  {Default: "10"},
					},
					Interval: Duration(90 * time.Second),
				},
			},
		},
	}
}

// wantFieldError fails the test unless err is a *chart.FieldError, not
// wrapped, whose Field is exactly field and whose message is not empty.
func wantFieldError(t *testing.T, err error, field string) *chart.FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a *chart.FieldError for field %q", field)
	}
	fe, ok := err.(*chart.FieldError)
	if !ok {
		t.Fatalf("got error %T %q, want a *chart.FieldError for field %q", err, err, field)
	}
	if fe.Field != field {
		t.Fatalf("got error on field %q (%q), want field %q", fe.Field, fe.Message, field)
	}
	if strings.TrimSpace(fe.Message) == "" {
		t.Fatalf("error on field %q has an empty message", field)
	}
	return fe
}

func TestParseValidDashboard(t *testing.T) {
	got, err := Parse([]byte(salesYAML))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if d := cmp.Diff(salesDashboard(), got); d != "" {
		t.Fatalf("Parse (-want +got):\n%s", d)
	}

	// What Parse returns encodes back to YAML that parses to the same
	// dashboard: intervals as "1m30s", the config inline.
	b, err := yaml.Marshal(got)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse of re-encoded YAML: %v\n%s", err, b)
	}
	if d := cmp.Diff(got, again); d != "" {
		t.Errorf("YAML round trip (-first +second):\n%s", d)
	}
}

func TestParseIntervals(t *testing.T) {
	tests := []struct {
		interval string
		want     time.Duration
	}{
		{"100ms", 100 * time.Millisecond},
		{"5s", 5 * time.Second},
		{"2m", 2 * time.Minute},
		{"1h0m0s", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.interval, func(t *testing.T) {
			d, err := Parse([]byte(withChart(`
    query: {source: s, sql: SELECT 1 AS n, interval: ` + tt.interval + `}`)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := time.Duration(d.Charts[0].Query.Interval); got != tt.want {
				t.Errorf("interval = %v, want %v", got, tt.want)
			}
		})
	}
}

// withChart returns a dashboard with one valid line chart, extended by
// extra (YAML indented for the chart's fields).
func withChart(extra string) string {
	return `
id: d
title: D
charts:
  - id: c
    type: line
    title: C
    encoding: {x: t, y: n}` + extra + "\n"
}

func TestParseRefusesUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"dashboard", "id: d\ntitle: D\ncolour: red\n", "field colour not found"},
		{"chart", withChart("\n    heigth: 3"), "field heigth not found"},
		{"encoding", "id: d\ntitle: D\ncharts:\n  - {id: c, type: line, title: C, encoding: {x: t, y: n, z: q}}\n", "field z not found"},
		{"query", withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 1s, timeout: 2s}"), "field timeout not found"},
		{"param", withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 1s, params: {r: {default: a, required: true}}}"), "field required not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", d)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"empty document", "", "empty document"},
		{"comment only", "# nothing here\n", "empty document"},
		{"bad interval", withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: soon}"), `"soon" is not a duration like 5s or 500ms`},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
		{"malformed YAML", "id: [d\n", "yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", d)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseValidationNamesTheField(t *testing.T) {
	manyParams := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d: {default: x}, ", i)
		}
		return "{" + strings.TrimSuffix(b.String(), ", ") + "}"
	}
	manyCharts := func(n int) string {
		var b strings.Builder
		b.WriteString("id: d\ntitle: D\ncharts:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - {id: c%d, type: line, title: C, encoding: {x: t, y: n}}\n", i)
		}
		return b.String()
	}
	query := func(fields string) string { return "\n    query: {" + fields + "}" }
	tests := []struct {
		name  string
		yaml  string
		field string
	}{
		{"missing id", "title: D\n", "id"},
		{"id with upper case", "id: Sales\ntitle: D\n", "id"},
		{"id with a space", "id: my dash\ntitle: D\n", "id"},
		{"id too long", "id: " + strings.Repeat("a", 65) + "\ntitle: D\n", "id"},
		{"missing title", "id: d\n", "title"},
		{"blank title", "id: d\ntitle: '   '\n", "title"},
		{"too many charts", manyCharts(MaxChartsPerDash + 1), "charts"},
		{"chart id", "id: d\ntitle: D\ncharts:\n  - {id: c, type: line, title: C, encoding: {x: t, y: n}}\n  - {id: -c, type: line, title: C, encoding: {x: t, y: n}}\n", "charts[1].id"},
		{"missing chart id", "id: d\ntitle: D\ncharts:\n  - {type: line, title: C, encoding: {x: t, y: n}}\n", "charts[0].id"},
		{"width too large", withChart("\n    width: 13"), "charts[0].width"},
		{"negative width", withChart("\n    width: -1"), "charts[0].width"},
		{"chart type", "id: d\ntitle: D\ncharts:\n  - {id: c, type: donut, title: C, encoding: {x: t, y: n}}\n", "charts[0].type"},
		{"chart title", "id: d\ntitle: D\ncharts:\n  - {id: c, type: line, encoding: {x: t, y: n}}\n", "charts[0].title"},
		{"chart encoding", "id: d\ntitle: D\ncharts:\n  - {id: c, type: pie, title: C, encoding: {value: n}}\n", "charts[0].encoding.category"},
		{"chart colour", withChart("\n    colors: [red]"), "charts[0].colors[0]"},
		{"query source", withChart(query("sql: SELECT 1, interval: 1s")), "charts[0].query.source"},
		{"query sql", withChart(query("source: s, interval: 1s")), "charts[0].query.sql"},
		{"blank query sql", withChart(query("source: s, sql: '  ', interval: 1s")), "charts[0].query.sql"},
		{"query sql not a select", withChart(query("source: s, sql: 'DELETE FROM t', interval: 1s")), "charts[0].query.sql"},
		{"query sql undeclared param", withChart(query("source: s, sql: 'SELECT :region AS r', interval: 1s")), "charts[0].query.sql"},
		{"missing query interval", withChart(query("source: s, sql: 'SELECT 1 AS x'")), "charts[0].query.interval"},
		{"query interval too short", withChart(query("source: s, sql: 'SELECT 1 AS x', interval: 99ms")), "charts[0].query.interval"},
		{"too many query params", withChart(query("source: s, sql: 'SELECT 1 AS x', interval: 1s, params: " + manyParams(MaxParams+1))), "charts[0].query.params"},
		{"query param name", withChart(query("source: s, sql: 'SELECT 1 AS x', interval: 1s, params: {1st: {default: a}}")), "charts[0].query.params"},
		{"query param default too long", withChart(query("source: s, sql: 'SELECT 1 AS x', interval: 1s, params: {region: {default: " + strings.Repeat("x", MaxFilterBytes+1) + "}}")), "charts[0].query.params.region.default"},
		{"duplicate chart id", "id: d\ntitle: D\ncharts:\n  - {id: c, type: line, title: C, encoding: {x: t, y: n}}\n  - {id: e, type: line, title: E, encoding: {x: t, y: n}}\n  - {id: c, type: bar, title: C2, encoding: {x: t, y: n}}\n", "charts[2].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			wantFieldError(t, err, tt.field)
		})
	}
}

// TestParseLimitsAreInclusive checks the largest values each limit allows.
func TestParseLimitsAreInclusive(t *testing.T) {
	manyParams := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d: {default: x}, ", i)
		}
		return "{" + strings.TrimSuffix(b.String(), ", ") + "}"
	}
	tests := []struct {
		name string
		yaml string
	}{
		{"width 1", withChart("\n    width: 1")},
		{"width 12", withChart("\n    width: 12")},
		{"id of 64", "id: " + strings.Repeat("a", 64) + "\ntitle: D\n"},
		{"minimum interval", withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 100ms}")},
		{"most params", withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 1s, params: " + manyParams(MaxParams) + "}")},
		{"longest default", withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 1s, params: {r: {default: " + strings.Repeat("x", MaxFilterBytes) + "}}}")},
		{"no charts", "id: d\ntitle: D\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.yaml)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestChartValidateFillsDefaultWidth(t *testing.T) {
	d := Dashboard{ID: "d", Title: "D", Charts: []Chart{
		{ID: "a", Config: chart.Config{Type: chart.Line, Title: "A", Encoding: chart.Encoding{X: "x", Y: "y"}}},
		{ID: "b", Width: 3, Config: chart.Config{Type: chart.Line, Title: "B", Encoding: chart.Encoding{X: "x", Y: "y"}}},
	}}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Charts[0].Width != DefaultWidth || d.Charts[1].Width != 3 {
		t.Errorf("widths = %d, %d; want %d, 3", d.Charts[0].Width, d.Charts[1].Width, DefaultWidth)
	}
}

func TestResolveFilters(t *testing.T) {
	withParams := Chart{ID: "c", Query: &Query{Params: map[string]Param{
		"region": {Default: ""},
		"limit":  {Default: "10"},
	}}}
	pushOnly := Chart{ID: "p"}
	tests := []struct {
		name          string
		chart         Chart
		filters       map[string]string
		wantParams    map[string]string
		wantEffective map[string]string
		wantField     string
	}{
		{
			name:          "no filters: every default",
			chart:         withParams,
			filters:       nil,
			wantParams:    map[string]string{"region": "", "limit": "10"},
			wantEffective: map[string]string{},
		},
		{
			name:          "a filter that differs from its default",
			chart:         withParams,
			filters:       map[string]string{"region": "EU"},
			wantParams:    map[string]string{"region": "EU", "limit": "10"},
			wantEffective: map[string]string{"region": "EU"},
		},
		{
			name:          "filters equal to their defaults are not effective",
			chart:         withParams,
			filters:       map[string]string{"region": "", "limit": "10"},
			wantParams:    map[string]string{"region": "", "limit": "10"},
			wantEffective: map[string]string{},
		},
		{
			name:          "one default, one not",
			chart:         withParams,
			filters:       map[string]string{"region": "", "limit": "5"},
			wantParams:    map[string]string{"region": "", "limit": "5"},
			wantEffective: map[string]string{"limit": "5"},
		},
		{
			name:          "a value of the longest length",
			chart:         withParams,
			filters:       map[string]string{"region": strings.Repeat("x", MaxFilterBytes)},
			wantParams:    map[string]string{"region": strings.Repeat("x", MaxFilterBytes), "limit": "10"},
			wantEffective: map[string]string{"region": strings.Repeat("x", MaxFilterBytes)},
		},
		{
			name:      "unknown filter",
			chart:     withParams,
			filters:   map[string]string{"nope": "x"},
			wantField: "filters.nope",
		},
		{
			name:      "the first unknown filter by name",
			chart:     withParams,
			filters:   map[string]string{"zz": "x", "region": "EU", "aa": "y"},
			wantField: "filters.aa",
		},
		{
			name:      "value too long",
			chart:     withParams,
			filters:   map[string]string{"region": strings.Repeat("x", MaxFilterBytes+1)},
			wantField: "filters.region",
		},
		{
			name:          "chart without a query and no filters",
			chart:         pushOnly,
			filters:       map[string]string{},
			wantParams:    map[string]string{},
			wantEffective: map[string]string{},
		},
		{
			name:      "chart without a query has no filters",
			chart:     pushOnly,
			filters:   map[string]string{"region": "EU"},
			wantField: "filters.region",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, eff, err := tt.chart.ResolveFilters(tt.filters)
			if tt.wantField != "" {
				wantFieldError(t, err, tt.wantField)
				if params != nil || eff != nil {
					t.Errorf("got params %v, effective %v with the error; want nil", params, eff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveFilters: %v", err)
			}
			if d := cmp.Diff(tt.wantParams, params, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("params (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantEffective, eff, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("effective (-want +got):\n%s", d)
			}
		})
	}
}

// TestResolveFiltersReportsTheFirstUnknownByName checks that with several
// bad filters the error is always about the same one, whatever the order
// of the map.
func TestResolveFiltersReportsTheFirstUnknownByName(t *testing.T) {
	c := Chart{ID: "c", Query: &Query{Params: map[string]Param{"region": {}}}}
	filters := map[string]string{"e": "x", "d": "x", "region": "EU", "c": "x", "b": "x", "a": "x"}
	for range 50 {
		_, _, err := c.ResolveFilters(filters)
		wantFieldError(t, err, "filters.a")
	}
}

func TestResolveFiltersErrorNamesChartAndFilter(t *testing.T) {
	c := Chart{ID: "sales-by-region", Query: &Query{Params: map[string]Param{"region": {}}}}
	_, _, err := c.ResolveFilters(map[string]string{"colour": "red"})
	fe := wantFieldError(t, err, "filters.colour")
	for _, s := range []string{`"sales-by-region"`, `"colour"`} {
		if !strings.Contains(fe.Message, s) {
			t.Errorf("message %q does not contain %s", fe.Message, s)
		}
	}
	var target *chart.FieldError
	if !errors.As(err, &target) {
		t.Error("errors.As does not find the *chart.FieldError")
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"0", true},
		{"sales-by_region2", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"-a", false},
		{"_a", false},
		{"A", false},
		{"a.b", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := ValidID(tt.id); got != tt.want {
				t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestParseQueryTypes(t *testing.T) {
	d, err := Parse([]byte(withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 1s, types: {day: time, n: number, ok: bool, s: string}}")))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := map[string]chart.ColumnType{"day": chart.Time, "n": chart.Number, "ok": chart.Bool, "s": chart.String}
	if diff := cmp.Diff(want, d.Charts[0].Query.Types); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}

	_, err = Parse([]byte(withChart("\n    query: {source: s, sql: 'SELECT 1 AS x', interval: 1s, types: {day: date}}")))
	wantFieldError(t, err, "charts[0].query.types.day")
}

func TestQueryCast(t *testing.T) {
	text := func(name string, vals ...any) chart.Table {
		tb := chart.Table{Columns: []chart.Column{{Name: name, Type: chart.String}, {Name: "n", Type: chart.Number}}, Rows: [][]any{}}
		for i, v := range vals {
			tb.Rows = append(tb.Rows, []any{v, float64(i)})
		}
		return tb
	}
	tests := []struct {
		name      string
		types     map[string]chart.ColumnType
		in        chart.Table
		want      chart.Table
		wantField string
	}{
		{
			name: "no types leaves the table alone",
			in:   text("day", "2024-01-02"),
			want: text("day", "2024-01-02"),
		},
		{
			name:  "text holding times becomes a time column",
			types: map[string]chart.ColumnType{"day": chart.Time},
			in:    text("day", "2024-01-02", "2024-01-03T04:05:06Z", nil),
			want: chart.Table{
				Columns: []chart.Column{{Name: "day", Type: chart.Time}, {Name: "n", Type: chart.Number}},
				Rows:    [][]any{{"2024-01-02", 0.0}, {"2024-01-03T04:05:06Z", 1.0}, {nil, 2.0}},
			},
		},
		{
			name:  "a type for a column the result does not have is ignored",
			types: map[string]chart.ColumnType{"other": chart.Time},
			in:    text("day", "x"),
			want:  text("day", "x"),
		},
		{
			name:      "a value that is not of the declared type",
			types:     map[string]chart.ColumnType{"day": chart.Time},
			in:        text("day", "2024-01-02", "2024-01-02 03:04:05"),
			wantField: "rows[1][0]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &Query{Types: tt.types}
			got := tt.in
			err := q.Cast(&got)
			if tt.wantField != "" {
				wantFieldError(t, err, tt.wantField)
				return
			}
			if err != nil {
				t.Fatalf("Cast: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("table (-want +got):\n%s", d)
			}
		})
	}
}

// TestFilters: a parameter declared by several charts is one filter,
// listing them all, with the first chart's label and default; a chart
// without a query declares none.
func TestFilters(t *testing.T) {
	q := func(params map[string]Param) *Query { return &Query{Source: "demo", SQL: "SELECT 1", Params: params} }
	d := Dashboard{Charts: []Chart{
		{ID: "a", Query: q(map[string]Param{"region": {Default: "EU", Label: "Region"}, "limit": {Default: "5"}})},
		{ID: "pushed"},
		{ID: "b", Query: q(map[string]Param{"region": {Default: "US", Label: "Area"}})},
	}}
	want := []Filter{
		{Name: "limit", Label: "limit", Default: "5", Charts: []string{"a"}},
		{Name: "region", Label: "Region", Default: "EU", Charts: []string{"a", "b"}},
	}
	if diff := cmp.Diff(want, d.Filters()); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
}

// CheckFilters takes only the dashboard's filters, with values of at most
// MaxFilterBytes, and names the first wrong one by name.
func TestCheckFilters(t *testing.T) {
	d := Dashboard{ID: "sales", Charts: []Chart{
		{ID: "a", Query: &Query{Source: "demo", SQL: "SELECT 1", Params: map[string]Param{"region": {Default: "EU"}, "limit": {Default: "5"}}}},
		{ID: "pushed"},
	}}
	for _, c := range []struct {
		filters map[string]string
		field   string // "" for no error
	}{
		{map[string]string{"region": "US", "limit": "10"}, ""},
		{nil, ""},
		{map[string]string{"region": "US", "zone": "x", "area": "y"}, "filters.area"},
		{map[string]string{"region": strings.Repeat("x", MaxFilterBytes)}, ""},
		{map[string]string{"region": strings.Repeat("x", MaxFilterBytes+1)}, "filters.region"},
	} {
		err := d.CheckFilters(c.filters)
		switch e := apperr.From(err); {
		case c.field == "" && err != nil:
			t.Errorf("%v: %v, want no error", c.filters, err)
		case c.field != "" && (e.Code != apperr.Invalid || e.Field != c.field):
			t.Errorf("%v: %v, want an error on %s", c.filters, err, c.field)
		}
	}
}

// TestJSONError: a chart's config fields are named as its JSON form
// nests them, once, and its own fields stay as they are.
func TestJSONError(t *testing.T) {
	for field, want := range map[string]string{
		"title":             "config.title",
		"encoding.y":        "config.encoding.y",
		"config.encoding.y": "config.encoding.y",
		"id":                "id",
		"width":             "width",
		"query.sql":         "query.sql",
		"":                  "",
	} {
		err := JSONError(&chart.FieldError{Field: field, Message: "m"})
		if fe, ok := errors.AsType[*chart.FieldError](err); !ok || fe.Field != want {
			t.Errorf("field %q: %v, want %q", field, err, want)
		}
	}
	other := errors.New("not a field error")
	if JSONError(other) != other {
		t.Error("another error was changed")
	}
}
