package test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ashreports/ashreports"

// pkg is what go list says of a package of the module.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// packages lists the module's packages (their non-test code).
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	ps := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ps[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return ps
}

func ours(imports []string) []string {
	var out []string
	for _, i := range imports {
		if i == module || strings.HasPrefix(i, module+"/") {
			out = append(out, strings.TrimPrefix(strings.TrimPrefix(i, module), "/"))
		}
	}
	return out
}

// TestDependenciesPointInward holds what docs/architecture.md says of the
// layout: chart imports nothing of ours; the domain packages only chart,
// apperr, sqlparam and each other; only the root's wiring and the command
// line open the store, and web imports no storage; nothing internal
// imports the root; dashboards link no SQL driver.
func TestDependenciesPointInward(t *testing.T) {
	ps := packages(t)
	if got := ours(ps["chart"].Imports); len(got) != 0 {
		t.Errorf("chart imports %v", got)
	}
	domain := []string{"chart", "internal/apperr", "internal/sqlparam", "internal/access", "internal/auth", "internal/audit", "internal/dashboard"}
	for _, d := range domain[3:] {
		for _, i := range ours(ps[d].Imports) {
			if !slices.Contains(domain, i) {
				t.Errorf("%s imports %s, which is not of the domain", d, i)
			}
		}
	}
	for name, p := range ps {
		imports := ours(p.Imports)
		if slices.Contains(imports, "internal/store") && name != "" && name != "cmd/ashreports" && name != "internal/store/storetest" {
			t.Errorf("%s imports the store", name)
		}
		if strings.HasPrefix(name, "internal/") && slices.Contains(imports, "") {
			t.Errorf("%s imports the root package", name)
		}
	}
	for _, d := range ps["internal/dashboard"].Deps {
		if d == "database/sql" || strings.Contains(d, "sqlite") {
			t.Errorf("internal/dashboard links %s", d)
		}
	}
}

// TestPublicAPIShowsNoInternalType: nothing exported by the root package
// (a type, an alias, a field, a function's or method's signature) names a
// type of an internal package: go doc shows embedders only what they can
// use.
func TestPublicAPIShowsNoInternalType(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		internal := map[string]bool{} // the names the file imports internal packages by
		for _, im := range f.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			if strings.HasPrefix(path, module+"/internal/") {
				n := path[strings.LastIndex(path, "/")+1:]
				if im.Name != nil {
					n = im.Name.Name
				}
				internal[n] = true
			}
		}
		check := func(what string, n ast.Node) {
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && internal[x.Name] {
						t.Errorf("%s: %s shows %s.%s", fset.Position(sel.Pos()), what, x.Name, sel.Sel.Name)
					}
				}
				return true
			})
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
					check(d.Name.Name, d.Type)
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					ts, ok := sp.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					st, isStruct := ts.Type.(*ast.StructType)
					if !isStruct {
						check(ts.Name.Name, ts.Type)
						continue
					}
					for _, fld := range st.Fields.List {
						for _, n := range fld.Names {
							if n.IsExported() {
								check(ts.Name.Name+"."+n.Name, fld.Type)
							}
						}
						if len(fld.Names) == 0 { // embedded: exported if its type is
							check(ts.Name.Name, fld.Type)
						}
					}
				}
			}
		}
	}
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(recv *ast.FieldList) bool {
	t := recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
