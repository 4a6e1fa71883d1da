package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse decodes one dashboard from YAML, refusing unknown fields, and
// validates it.
func Parse(data []byte) (Dashboard, error) {
	var d Dashboard
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return Dashboard{}, errors.New("empty document")
		}
		return Dashboard{}, err
	}
	if err := d.Validate(); err != nil {
		return Dashboard{}, err
	}
	return d, nil
}

// LoadDir parses every *.yaml and *.yml file at the top of fsys, in name
// order. An error names the file. Chart ids must be unique across files.
func LoadDir(fsys fs.FS) ([]Dashboard, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read dashboards dir: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []Dashboard
	charts := map[string]string{}
	dashes := map[string]string{}
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		d, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if other, ok := dashes[d.ID]; ok {
			return nil, fmt.Errorf("%s: dashboard id %q is also used in %s", e.Name(), d.ID, other)
		}
		dashes[d.ID] = e.Name()
		for i, c := range d.Charts {
			if other, ok := charts[c.ID]; ok {
				return nil, fmt.Errorf("%s: charts[%d].id: %q is also used in %s", e.Name(), i, c.ID, other)
			}
			charts[c.ID] = e.Name()
		}
		out = append(out, d)
	}
	return out, nil
}
