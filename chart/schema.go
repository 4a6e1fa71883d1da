package chart

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// shape describes the JSON an op may hold, so that ParseOp can name any
// unknown field or mistyped value by its full path (config.encoding.z,
// data.columns[1].name) before decoding into Go types. JSON null is
// accepted wherever a value is, as absent.
type shape struct {
	kind   byte // 'o' object, 'a' array, 's' string, 'i' integer, '*' any
	fields map[string]*shape
	elem   *shape
}

var (
	anyShape  = &shape{kind: '*'}
	strShape  = &shape{kind: 's'}
	rowsShape = &shape{kind: 'a', elem: &shape{kind: 'a', elem: anyShape}}
	opShape   = &shape{kind: 'o', fields: map[string]*shape{
		"op": strShape,
		"data": {kind: 'o', fields: map[string]*shape{
			"columns": {kind: 'a', elem: &shape{kind: 'o', fields: map[string]*shape{"name": strShape, "type": strShape}}},
			"rows":    rowsShape,
		}},
		"rows": rowsShape,
		"keys": rowsShape,
		"config": {kind: 'o', fields: map[string]*shape{
			"type":  strShape,
			"title": strShape,
			"encoding": {kind: 'o', fields: map[string]*shape{
				"x": strShape, "y": strShape, "series": strShape, "category": strShape, "value": strShape,
			}},
			"colors":    {kind: 'a', elem: strShape},
			"key":       {kind: 'a', elem: strShape},
			"retention": {kind: 'i'},
		}},
	}}
)

// check walks v, as decoded by encoding/json with UseNumber, against s.
func (s *shape) check(path string, v any) error {
	if v == nil || s.kind == '*' {
		return nil
	}
	switch s.kind {
	case 'o':
		m, ok := v.(map[string]any)
		if !ok {
			return fieldErrorf(path, "want an object, got %s", jsonKind(v))
		}
		for k, fv := range m {
			p := k
			if path != "" {
				p = path + "." + k
			}
			fs, ok := s.fields[k]
			if !ok {
				return fieldErrorf(p, "unknown field")
			}
			if err := fs.check(p, fv); err != nil {
				return err
			}
		}
	case 'a':
		a, ok := v.([]any)
		if !ok {
			return fieldErrorf(path, "want an array, got %s", jsonKind(v))
		}
		for i, ev := range a {
			if err := s.elem.check(path+"["+strconv.Itoa(i)+"]", ev); err != nil {
				return err
			}
		}
	case 's':
		if _, ok := v.(string); !ok {
			return fieldErrorf(path, "want a string, got %s", jsonKind(v))
		}
	case 'i':
		n, ok := v.(json.Number)
		if !ok {
			return fieldErrorf(path, "want an integer, got %s", jsonKind(v))
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			return fieldErrorf(path, "want an integer, got %s", n)
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a bool"
	}
	return fmt.Sprintf("%T", v)
}
