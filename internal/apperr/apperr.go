package apperr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ashreports/ashreports/chart"
)

// Code classifies an error for clients.
type Code string

// The codes.
const (
	Invalid      Code = "invalid"
	NotFound     Code = "not_found"
	Conflict     Code = "conflict"
	Unauthorized Code = "unauthorized"
	Forbidden    Code = "forbidden"
	TooLarge     Code = "too_large"
	Unsupported  Code = "unsupported_media_type"
	RateLimited  Code = "rate_limited"
	Unavailable  Code = "unavailable"
	Internal     Code = "internal"
)

// Error is an error with a code and a message that may be shown to users.
type Error struct {
	Code    Code
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// From returns the user-facing form of err: an *Error found in its chain,
// a chart.BudgetError as TooLarge, a chart.FieldError as Invalid, and
// anything else as Internal with a generic message, so that internal
// error text never reaches a client.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var be *chart.BudgetError
	if errors.As(err, &be) {
		return &Error{Code: TooLarge, Message: be.Error()}
	}
	var fe *chart.FieldError
	if errors.As(err, &fe) {
		return &Error{Code: Invalid, Message: fe.Message, Field: fe.Field}
	}
	return &Error{Code: Internal, Message: "internal error"}
}

// CodeOf returns the code of err, Internal when it has none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	return From(err).Code
}

var statuses = map[Code]int{
	Invalid:      http.StatusBadRequest,
	NotFound:     http.StatusNotFound,
	Conflict:     http.StatusConflict,
	Unauthorized: http.StatusUnauthorized,
	Forbidden:    http.StatusForbidden,
	TooLarge:     http.StatusRequestEntityTooLarge,
	Unsupported:  http.StatusUnsupportedMediaType,
	RateLimited:  http.StatusTooManyRequests,
	Unavailable:  http.StatusServiceUnavailable,
	Internal:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status for a code.
func HTTPStatus(c Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Body is the JSON error shape of HTTP responses and socket replies.
type Body struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// BodyOf returns the JSON error shape of err.
func BodyOf(err error) Body {
	e := From(err)
	return Body{Code: e.Code, Message: e.Message, Field: e.Field}
}
