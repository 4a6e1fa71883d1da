package chart

import "fmt"

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

// prefix returns err with its field path placed under parent.
func prefix(parent string, err error) error {
	fe, ok := err.(*FieldError)
	if !ok {
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
