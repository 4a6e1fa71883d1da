package web

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/room"
)

// TestProtocolTypes: each protocol object has one Go type and one
// TypeScript interface (web/src/protocol.ts), with the same fields of the
// same types, and a field the Go encoder may leave out (omitempty) is
// optional in TypeScript.
func TestProtocolTypes(t *testing.T) {
	src, err := os.ReadFile("../../web/src/protocol.ts")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"Layout":       dashboard.Layout{},
		"Slot":         dashboard.Slot{},
		"PresenceUser": room.User{},
		"RoomEvent":    room.Event{},
		"ErrorBody":    apperr.Body{},
	} {
		ts := tsFields(t, string(src), name)
		rt := reflect.TypeOf(v)
		var names []string
		for i := range rt.NumField() {
			f := rt.Field(i)
			field, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if field == "-" || field == "" {
				continue
			}
			if strings.Contains(opts, "omitempty") {
				field += "?"
			}
			names = append(names, field)
			typ, ok := ts[field]
			if !ok {
				continue // reported below, with the whole list
			}
			if !tsType(f.Type, typ) {
				t.Errorf("%s.%s: Go %s, TypeScript %s", name, field, f.Type, typ)
			}
		}
		slices.Sort(names)
		if got := slices.Sorted(maps.Keys(ts)); !slices.Equal(got, names) {
			t.Errorf("%s: TypeScript %v, Go %s %v", name, got, rt, names)
		}
	}
}

// tsType reports whether the TypeScript type ts holds what Go encodes a
// value of type t as.
func tsType(t reflect.Type, ts string) bool {
	ts = strings.TrimSuffix(strings.TrimSpace(ts), " | null")
	switch t.Kind() {
	case reflect.String: // a string, or a union of string literals
		return ts == "string" || regexp.MustCompile(`^'\w+'( \| '\w+')*$`).MatchString(ts)
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64, reflect.Float64:
		return ts == "number"
	case reflect.Bool:
		return ts == "boolean"
	case reflect.Map:
		return t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String && ts == "Record<string, string>"
	case reflect.Slice:
		return strings.HasSuffix(ts, "[]") && tsType(t.Elem(), strings.TrimSuffix(ts, "[]"))
	case reflect.Pointer:
		return tsType(t.Elem(), ts)
	case reflect.Struct:
		return ts == t.Name() || ts == map[string]string{"User": "PresenceUser", "Event": "RoomEvent", "Body": "ErrorBody"}[t.Name()]
	}
	return false
}

// tsFields returns the fields of an exported interface of src with their
// types; the optional ones end in ?.
func tsFields(t *testing.T, src, name string) map[string]string {
	t.Helper()
	m := regexp.MustCompile(`(?s)export interface ` + name + ` \{\n(.*?)\n\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("protocol.ts has no interface %s", name)
	}
	out := map[string]string{}
	for _, line := range strings.Split(m[1], "\n") {
		if f := regexp.MustCompile(`^  (\w+)(\??): (.*);$`).FindStringSubmatch(line); f != nil {
			out[f[1]+f[2]] = f[3]
		}
	}
	return out
}
