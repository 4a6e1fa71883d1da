package web

import (
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
// TypeScript interface (web/src/protocol.ts), with the same fields, and a
// field the Go encoder may leave out (omitempty) is optional in
// TypeScript.
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
		var goFields []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			tag := rt.Field(i).Tag.Get("json")
			field, opts, _ := strings.Cut(tag, ",")
			if field == "-" || field == "" {
				continue
			}
			if strings.Contains(opts, "omitempty") {
				field += "?"
			}
			goFields = append(goFields, field)
		}
		slices.Sort(goFields)
		if !slices.Equal(ts, goFields) {
			t.Errorf("%s: TypeScript %v, Go %s %v", name, ts, rt, goFields)
		}
	}
}

// tsFields returns the fields of an exported interface of src, sorted,
// with ? on the optional ones.
func tsFields(t *testing.T, src, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)export interface ` + name + ` \{\n(.*?)\n\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("protocol.ts has no interface %s", name)
	}
	var out []string
	for _, line := range strings.Split(m[1], "\n") {
		if f := regexp.MustCompile(`^  (\w+)(\??):`).FindStringSubmatch(line); f != nil {
			out = append(out, f[1]+f[2])
		}
	}
	slices.Sort(out)
	return out
}
