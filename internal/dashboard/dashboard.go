package dashboard

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/sqlparam"
)

// Dashboard is a titled grid of charts.
type Dashboard struct {
	ID          string  `yaml:"id" json:"id"`
	Title       string  `yaml:"title" json:"title"`
	Description string  `yaml:"description,omitempty" json:"description,omitempty"`
	Charts      []Chart `yaml:"charts" json:"charts"`
}

// Chart is one chart of a dashboard: how it is drawn, how wide it is on the
// 12-column grid, and where its data comes from. A chart without a Query
// holds only what is pushed to it.
type Chart struct {
	ID     string       `yaml:"id" json:"id"`
	Width  int          `yaml:"width,omitempty" json:"width"`
	Config chart.Config `yaml:",inline" json:"config"`
	Query  *Query       `yaml:"query,omitempty" json:"query,omitempty"`
}

// Query binds a chart to a SQL query that is re-run every Interval; the
// chart changes only when the result does.
type Query struct {
	// Source names a configured data source.
	Source string `yaml:"source" json:"source"`
	// SQL is a read-only query. It refers to parameters as :name.
	SQL string `yaml:"sql" json:"sql"`
	// Params declares the query's parameters and their defaults; viewers
	// set them as filters.
	Params map[string]Param `yaml:"params,omitempty" json:"params,omitempty"`
	// Interval is how often the query re-runs.
	Interval Duration `yaml:"interval" json:"interval"`
	// Types sets the type of result columns whose values do not tell it,
	// such as a time that SQLite returns as text.
	Types map[string]chart.ColumnType `yaml:"types,omitempty" json:"types,omitempty"`
}

// Cast gives the result columns named in Types their declared type and
// checks every value against it.
func (q *Query) Cast(t *chart.Table) error {
	if len(q.Types) == 0 {
		return nil
	}
	for i, c := range t.Columns {
		if typ, ok := q.Types[c.Name]; ok {
			t.Columns[i].Type = typ
		}
	}
	return t.Validate()
}

// Param is a query parameter that viewers may set as a filter.
type Param struct {
	Default string `yaml:"default" json:"default"`
	// Label is shown to viewers; the parameter name when empty.
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
}

// Duration is a time.Duration written as "5s" in YAML and JSON.
type Duration time.Duration

// UnmarshalText parses a duration such as "1s" or "500ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 5s or 500ms", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as "5s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Limits on definitions.
const (
	MinInterval      = 100 * time.Millisecond
	MaxParams        = 16
	MaxFilterBytes   = 256
	DefaultWidth     = 6
	GridColumns      = 12
	MaxChartsPerDash = 48
)

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
var paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// ValidID reports whether s may be a dashboard or chart id: lower-case
// letters, digits, - and _, at most 64, starting with a letter or digit.
func ValidID(s string) bool { return idRE.MatchString(s) }

// Filter is one filter of a dashboard: a parameter that one or more of
// its charts' queries declare.
type Filter struct {
	Name, Label, Default string
	// Charts declare the parameter.
	Charts []string
}

// Filters gathers the parameters of the dashboard's charts: one filter per
// name, in the order the charts declare them, with the first chart's label
// (the name when it has none) and default.
func (d *Dashboard) Filters() []Filter {
	var out []Filter
	for _, c := range d.Charts {
		if c.Query == nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(c.Query.Params)) {
			p := c.Query.Params[name]
			i := slices.IndexFunc(out, func(f Filter) bool { return f.Name == name })
			if i < 0 {
				label := p.Label
				if label == "" {
					label = name
				}
				out = append(out, Filter{Name: name, Label: label, Default: p.Default})
				i = len(out) - 1
			}
			out[i].Charts = append(out[i].Charts, c.ID)
		}
	}
	return out
}

// CheckFilters checks that filters names only filters of the dashboard,
// with values of at most MaxFilterBytes. Its errors are apperr's, named
// as the request's fields: they are not a chart's.
func (d *Dashboard) CheckFilters(filters map[string]string) error {
	declared := d.Filters()
	for _, name := range slices.Sorted(maps.Keys(filters)) {
		if !slices.ContainsFunc(declared, func(f Filter) bool { return f.Name == name }) {
			return &apperr.Error{Code: apperr.Invalid, Field: "filters." + name, Message: fmt.Sprintf("dashboard %q has no filter %q", d.ID, name)}
		}
		if len(filters[name]) > MaxFilterBytes {
			return &apperr.Error{Code: apperr.Invalid, Field: "filters." + name, Message: fmt.Sprintf("longer than %d bytes", MaxFilterBytes)}
		}
	}
	return nil
}

// Validate checks the dashboard and every chart in it, filling defaults
// (width). Errors name the field, such as charts[2].query.interval.
func (d *Dashboard) Validate() error {
	if !ValidID(d.ID) {
		return &chart.FieldError{Field: "id", Message: fmt.Sprintf("%q is not an id (a-z, 0-9, - and _, at most 64)", d.ID)}
	}
	if strings.TrimSpace(d.Title) == "" {
		return &chart.FieldError{Field: "title", Message: "must not be empty"}
	}
	if len(d.Charts) > MaxChartsPerDash {
		return &chart.FieldError{Field: "charts", Message: fmt.Sprintf("more than %d charts", MaxChartsPerDash)}
	}
	seen := map[string]bool{}
	for i := range d.Charts {
		c := &d.Charts[i]
		if err := c.Validate(); err != nil {
			return chart.Under(fmt.Sprintf("charts[%d]", i), err)
		}
		if seen[c.ID] {
			return &chart.FieldError{Field: fmt.Sprintf("charts[%d].id", i), Message: fmt.Sprintf("duplicate chart id %q", c.ID)}
		}
		seen[c.ID] = true
	}
	return nil
}

// Validate checks one chart definition and fills its default width. It
// always returns a *chart.FieldError or nil.
func (c *Chart) Validate() error {
	if !ValidID(c.ID) {
		return &chart.FieldError{Field: "id", Message: fmt.Sprintf("%q is not an id (a-z, 0-9, - and _, at most 64)", c.ID)}
	}
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Width < 1 || c.Width > GridColumns {
		return &chart.FieldError{Field: "width", Message: fmt.Sprintf("must be between 1 and %d columns", GridColumns)}
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if q := c.Query; q != nil {
		switch {
		case q.Source == "":
			return &chart.FieldError{Field: "query.source", Message: "required"}
		case strings.TrimSpace(q.SQL) == "":
			return &chart.FieldError{Field: "query.sql", Message: "required"}
		case time.Duration(q.Interval) < MinInterval:
			return &chart.FieldError{Field: "query.interval", Message: fmt.Sprintf("must be at least %s", MinInterval)}
		case len(q.Params) > MaxParams:
			return &chart.FieldError{Field: "query.params", Message: fmt.Sprintf("more than %d parameters", MaxParams)}
		}
		defaults := make(map[string]string, len(q.Params))
		for name, p := range q.Params {
			defaults[name] = p.Default
		}
		// The same check as at every run: one read-only statement whose
		// parameters are all declared.
		if _, _, err := sqlparam.Bind(q.SQL, sqlparam.Question, defaults); err != nil {
			return &chart.FieldError{Field: "query.sql", Message: err.Error()}
		}
		for name, typ := range q.Types {
			switch typ {
			case chart.String, chart.Number, chart.Time, chart.Bool:
			default:
				return &chart.FieldError{Field: "query.types." + name, Message: fmt.Sprintf("unknown column type %q (want string, number, time or bool)", typ)}
			}
		}
		for name, p := range q.Params {
			if !paramRE.MatchString(name) {
				return &chart.FieldError{Field: "query.params", Message: fmt.Sprintf("%q is not a parameter name", name)}
			}
			if len(p.Default) > MaxFilterBytes {
				return &chart.FieldError{Field: "query.params." + name + ".default", Message: fmt.Sprintf("longer than %d bytes", MaxFilterBytes)}
			}
		}
	}
	return nil
}

// ResolveFilters checks viewer filters against the chart's parameters and
// returns the full parameter set (defaults filled in) and the filters that
// differ from the defaults, which identify the stream.
func (c *Chart) ResolveFilters(filters map[string]string) (params, effective map[string]string, err error) {
	var declared map[string]Param
	if c.Query != nil {
		declared = c.Query.Params
	}
	params = make(map[string]string, len(declared))
	for name, p := range declared {
		params[name] = p.Default
	}
	effective = map[string]string{}
	names := make([]string, 0, len(filters))
	for k := range filters {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := filters[k]
		p, ok := declared[k]
		if !ok {
			return nil, nil, &chart.FieldError{Field: "filters." + k, Message: fmt.Sprintf("chart %q has no filter %q", c.ID, k)}
		}
		if len(v) > MaxFilterBytes {
			return nil, nil, &chart.FieldError{Field: "filters." + k, Message: fmt.Sprintf("longer than %d bytes", MaxFilterBytes)}
		}
		params[k] = v
		if v != p.Default {
			effective[k] = v
		}
	}
	return params, effective, nil
}

// JSONError names the field of an error of Chart.Validate, which names the
// config's fields as the YAML format writes them (inline: "title"), as the
// chart's JSON form does ("config.title"). Other errors are returned as
// they are.
func JSONError(err error) error {
	var fe *chart.FieldError
	if !errors.As(err, &fe) || fe.Field == "" {
		return err
	}
	for _, own := range []string{"id", "width", "query", "config"} {
		if fe.Field == own || strings.HasPrefix(fe.Field, own+".") {
			return err
		}
	}
	return chart.Under("config", err)
}

// String writes the duration as "5s".
func (d Duration) String() string { return time.Duration(d).String() }

// Changes describes what a save changed, for the audit log and the
// activity feed: "type bar → line; title". It holds no query text.
func Changes(old, cur Chart) string {
	var out []string
	if old.Config.Type != cur.Config.Type {
		out = append(out, fmt.Sprintf("type %s → %s", old.Config.Type, cur.Config.Type))
	}
	if old.Config.Title != cur.Config.Title {
		out = append(out, "title")
	}
	if old.Width != cur.Width {
		out = append(out, fmt.Sprintf("width %d → %d", old.Width, cur.Width))
	}
	if old.Config.Encoding != cur.Config.Encoding {
		out = append(out, "encoding")
	}
	if !reflect.DeepEqual(old.Config.Colors, cur.Config.Colors) {
		out = append(out, "colours")
	}
	if old.Config.Retention != cur.Config.Retention || !reflect.DeepEqual(old.Config.Key, cur.Config.Key) {
		out = append(out, "rows kept")
	}
	oq, cq := old.Query, cur.Query
	switch {
	case (oq == nil) != (cq == nil):
		out = append(out, "data source")
	case oq != nil:
		if oq.Source != cq.Source || oq.SQL != cq.SQL || !reflect.DeepEqual(oq.Types, cq.Types) {
			out = append(out, "query")
		}
		if oq.Interval != cq.Interval {
			out = append(out, fmt.Sprintf("interval %s → %s", oq.Interval.String(), cq.Interval.String()))
		}
		if !reflect.DeepEqual(oq.Params, cq.Params) {
			out = append(out, "filters")
		}
	}
	if len(out) == 0 {
		return "no change"
	}
	return strings.Join(out, "; ")
}

// ChartIDTaken is the error of storing a chart whose id a chart of
// another dashboard has: chart ids are the server's, not a dashboard's
// nor an organization's. Its chain holds an apperr conflict.
type ChartIDTaken struct {
	// Chart is the chart stored, of dashboard Dashboard, from Origin
	// ("file" for the dashboards directory, "demo") into organization
	// OrgID; UsedBy is the dashboard that has a chart with its id, in
	// organization UsedByOrg.
	Chart, Dashboard, Origin, OrgID string
	UsedBy, UsedByOrg               string
}

func (e *ChartIDTaken) Error() string {
	return fmt.Sprintf("chart id %q is already used by dashboard %q", e.Chart, e.UsedBy)
}

// Unwrap is the conflict, as clients see it.
func (e *ChartIDTaken) Unwrap() error { return apperr.Errorf(apperr.Conflict, "%s", e.Error()) }
