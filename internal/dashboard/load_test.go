package dashboard

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports/chart"
)

// dash returns a valid dashboard file with the given id and line charts.
func dash(id string, charts ...string) *fstest.MapFile {
	var b strings.Builder
	b.WriteString("id: " + id + "\ntitle: Dashboard " + id + "\ncharts:\n")
	for _, c := range charts {
		b.WriteString("  - {id: " + c + ", type: line, title: " + c + ", encoding: {x: t, y: n}}\n")
	}
	return &fstest.MapFile{Data: []byte(b.String())}
}

func ids(ds []Dashboard) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestLoadDir(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{
			name: "name order, .yaml and .yml",
			fsys: fstest.MapFS{
				"c.yaml": dash("third", "c1"),
				"a.yml":  dash("first", "a1", "a2"),
				"b.yaml": dash("second"),
			},
			want: []string{"first", "second", "third"},
		},
		{
			name: "name order is by file, not by id",
			fsys: fstest.MapFS{
				"1.yaml": dash("zz"),
				"2.yaml": dash("aa"),
			},
			want: []string{"zz", "aa"},
		},
		{
			name: "other files, hidden files and directories are ignored",
			fsys: fstest.MapFS{
				"ok.yaml":          dash("ok", "c"),
				"README.md":        {Data: []byte("# not a dashboard")},
				"notes.txt":        {Data: []byte("id: [")},
				"ok.yaml.bak":      {Data: []byte("id: [")},
				"ok.YAML":          {Data: []byte("id: [")},
				".hidden.yaml":     {Data: []byte("id: [")},
				"sub/nested.yaml":  dash("nested", "c"),
				"dir.yaml/x.yaml":  dash("x", "c"),
				"sub/broken.yaml":  {Data: []byte("id: [")},
				"sub/another.yml":  dash("another", "d"),
				"zz-last.yml":      dash("last", "z"),
				"unrelated.json":   {Data: []byte("{}")},
				"no-extension":     {Data: []byte("id: [")},
				"tricky.yaml.tmpl": {Data: []byte("id: [")},
			},
			want: []string{"ok", "last"},
		},
		{
			name: "an empty directory",
			fsys: fstest.MapFS{},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadDir(tt.fsys)
			if err != nil {
				t.Fatalf("LoadDir: %v", err)
			}
			if d := cmp.Diff(tt.want, ids(got)); d != "" {
				t.Errorf("dashboard ids (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoadDirParsesEachFile(t *testing.T) {
	got, err := LoadDir(fstest.MapFS{"sales.yaml": {Data: []byte(salesYAML)}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]Dashboard{salesDashboard()}, got); d != "" {
		t.Errorf("LoadDir (-want +got):\n%s", d)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{
			name: "a parse error names the file",
			fsys: fstest.MapFS{
				"a.yaml":   dash("a", "c1"),
				"bad.yaml": {Data: []byte("id: d\ntitle: D\ncolour: red\n")},
			},
			want: []string{"bad.yaml: ", "colour"},
		},
		{
			name: "a validation error names the file and the field",
			fsys: fstest.MapFS{
				"ops.yml": {Data: []byte("id: ops\ntitle: Ops\ncharts:\n  - {id: c, type: line, title: C, width: 20, encoding: {x: t, y: n}}\n")},
			},
			want: []string{"ops.yml: ", "charts[0].width"},
		},
		{
			name: "an empty file",
			fsys: fstest.MapFS{"empty.yaml": {Data: nil}},
			want: []string{"empty.yaml: ", "empty document"},
		},
		{
			name: "duplicate dashboard id across files",
			fsys: fstest.MapFS{
				"one.yaml": dash("sales", "c1"),
				"two.yaml": dash("sales", "c2"),
			},
			want: []string{"two.yaml: ", `dashboard id "sales"`, "one.yaml"},
		},
		{
			name: "duplicate chart id across files",
			fsys: fstest.MapFS{
				"one.yaml": dash("first", "orders", "revenue"),
				"two.yaml": dash("second", "costs", "revenue"),
			},
			want: []string{"two.yaml: ", "charts[1].id", `"revenue"`, "one.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadDir(tt.fsys)
			if err == nil {
				t.Fatalf("LoadDir = %v, want an error", ids(got))
			}
			if got != nil {
				t.Errorf("LoadDir returned dashboards %v with its error", ids(got))
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestLoadDirKeepsFieldErrors checks that the error of a file wraps the
// *chart.FieldError, so that callers can still find the field.
func TestLoadDirKeepsFieldErrors(t *testing.T) {
	_, err := LoadDir(fstest.MapFS{"d.yaml": {Data: []byte("id: d\ntitle: ''\n")}})
	if err == nil {
		t.Fatal("no error")
	}
	fe := unwrapFieldError(t, err)
	if fe.Field != "title" {
		t.Errorf("field = %q, want title", fe.Field)
	}
}

func unwrapFieldError(t *testing.T, err error) *chart.FieldError {
	t.Helper()
	var fe *chart.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q does not wrap a *chart.FieldError", err)
	}
	return fe
}
