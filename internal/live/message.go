package live

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ashreports/ashreports/internal/apperr"
)

// refOf finds the ref of a message that could not be decoded whole (it may
// be cut short), so that the error reply can carry it: the value of the
// top-level "ref" key if it comes before the point where decoding stops;
// "" otherwise.
func refOf(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "ref" {
			v, err := dec.Token()
			if s, ok := v.(string); err == nil && ok && len(s) <= 64 {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// clientMsg is any client message; which fields apply depends on Type.
type clientMsg struct {
	Ref     string            `json:"ref"`
	Type    string            `json:"type"`
	Chart   string            `json:"chart,omitempty"`
	Filters map[string]string `json:"filters,omitempty"`
	Stream  string            `json:"stream,omitempty"`
	Op      json.RawMessage   `json:"op,omitempty"`
	// Offset and Epoch, on subscribe, resume a stream where the client
	// left it.
	Offset *uint64 `json:"offset,omitempty"`
	Epoch  string  `json:"epoch,omitempty"`
	// Priority, on publish: "high" or "normal" (the default).
	Priority string `json:"priority,omitempty"`
	// Dashboard, on join, names the room.
	Dashboard string `json:"dashboard,omitempty"`
	// Editing, on focus, says the focused chart is being edited.
	Editing bool `json:"editing,omitempty"`
}

// decodeMessage parses a client message, refusing unknown fields.
func decodeMessage(data []byte) (clientMsg, error) {
	var m clientMsg
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		m.Ref = refOf(data)
		return m, messageError(err)
	}
	if dec.More() {
		return m, apperr.Errorf(apperr.Invalid, "malformed message: more than one JSON value")
	}
	switch {
	case m.Ref == "":
		return m, &apperr.Error{Code: apperr.Invalid, Field: "ref", Message: "required"}
	case len(m.Ref) > 64:
		ref := m.Ref
		m.Ref = ""
		return m, &apperr.Error{Code: apperr.Invalid, Field: "ref", Message: fmt.Sprintf("longer than 64 bytes (%d)", len(ref))}
	}
	return m, nil
}

// messageError describes a decoding error in the terms of the protocol,
// not of the Go types behind it.
func messageError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return apperr.Errorf(apperr.Invalid, "malformed message: not JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		want := "a string"
		if strings.HasPrefix(te.Field, "filters") {
			want = "an object of string values"
		}
		return &apperr.Error{Code: apperr.Invalid, Field: te.Field, Message: fmt.Sprintf("malformed message: want %s, got JSON %s", want, te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.Invalid, "malformed message: the JSON ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apperr.Error{Code: apperr.Invalid, Field: name, Message: "malformed message: unknown field"}
	}
	return apperr.Errorf(apperr.Invalid, "malformed message: not a JSON object")
}
