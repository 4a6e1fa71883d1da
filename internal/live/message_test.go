package live

import (
	"errors"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/apperr"
)

func TestDecodeMessage(t *testing.T) {
	tests := []struct {
		name, in  string
		wantRef   string
		wantField string
		wantErr   string
	}{
		{name: "subscribe", in: `{"ref":"1","type":"subscribe","chart":"c","filters":{"region":"Europe"}}`, wantRef: "1"},
		{name: "publish", in: `{"ref":"2","type":"publish","chart":"c","op":{"op":"append","rows":[]}}`, wantRef: "2"},
		{name: "no ref", in: `{"type":"ping"}`, wantField: "ref", wantErr: "required"},
		{name: "long ref", in: `{"ref":"` + strings.Repeat("r", 65) + `","type":"ping"}`, wantField: "ref", wantErr: "longer than 64"},
		{name: "not JSON", in: `ping`, wantErr: "malformed message: not JSON"},
		{name: "unknown field keeps ref", in: `{"ref":"9","type":"ping","x":1}`, wantRef: "9", wantField: "x", wantErr: "unknown field"},
		{name: "filters not strings", in: `{"ref":"3","type":"subscribe","chart":"c","filters":{"n":1}}`, wantRef: "3", wantField: "filters", wantErr: "want an object of string values, got JSON number"},
		{name: "chart not a string", in: `{"ref":"5","type":"subscribe","chart":7}`, wantRef: "5", wantField: "chart", wantErr: "want a string, got JSON number"},
		{name: "ref of a cut-short message", in: `{"ref":"6","type":"publish","op":{"op":"append","rows":[["aaaa`, wantRef: "6", wantErr: "malformed message"},
		{name: "two values", in: `{"ref":"4","type":"ping"} {}`, wantRef: "4", wantErr: "more than one JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeMessage([]byte(tt.in))
			if m.Ref != tt.wantRef {
				t.Errorf("ref = %q, want %q", m.Ref, tt.wantRef)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error = %v, want none", err)
				}
				return
			}
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != apperr.Invalid || e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantErr) {
				t.Fatalf("error = %#v, want invalid on field %q containing %q", err, tt.wantField, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeMessage checks that any client bytes decode to a message or to
// an invalid error, never a panic, and that a ref in a reply is never over
// the limit.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"ref":"1","type":"subscribe","chart":"sales-by-region"}`,
		`{"ref":"2","type":"subscribe","chart":"product-performance","filters":{"region":"Europe"}}`,
		`{"ref":"3","type":"unsubscribe","stream":"product-performance?region=Europe"}`,
		`{"ref":"4","type":"publish","chart":"orders","op":{"op":"append","rows":[["a",1]]}}`,
		`{"ref":"5","type":"ping"}`,
		`{"ref":5}`, `[]`, `null`, `{"ref":"","type":""}`, "\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if len(m.Ref) > 64 {
			t.Fatalf("ref of %d bytes accepted", len(m.Ref))
		}
		if err != nil {
			if c := apperr.CodeOf(err); c != apperr.Invalid {
				t.Fatalf("error code %q for %q, want invalid", c, data)
			}
			return
		}
		if m.Ref == "" {
			t.Fatalf("message without ref accepted: %q", data)
		}
	})
}
