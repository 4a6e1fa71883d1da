package chart

import (
	"errors"
	"fmt"
)

// FieldError is a validation error that names the field at fault, with a
// path such as "data.rows[3][1]" or "encoding.y".
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Under returns err with its field placed under parent ("encoding.y" under
// "config" is "config.encoding.y", "[2]" under "rows" is "rows[2]"), when
// err is a *FieldError or wraps one; any other error is returned as it is.
// It is the one way a field error is re-rooted, from an op's or a chart's
// own fields to where they stand in what a client sent.
func Under(parent string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	f := parent
	if fe.Field != "" {
		if fe.Field[0] == '[' {
			f += fe.Field
		} else {
			f += "." + fe.Field
		}
	}
	return &FieldError{Field: f, Message: fe.Message}
}
