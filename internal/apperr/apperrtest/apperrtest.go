package apperrtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/apperr"
)

// Want fails the test unless err is an *apperr.Error with the code and a
// message that contains every one of subs.
func Want(tb testing.TB, err error, code apperr.Code, subs ...string) {
	tb.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		tb.Fatalf("got error %T %v, want an *apperr.Error with code %s", err, err, code)
	}
	if ae.Code != code {
		tb.Fatalf("got code %s (%q), want %s", ae.Code, ae.Message, code)
	}
	for _, s := range subs {
		if !strings.Contains(ae.Message, s) {
			tb.Errorf("message %q does not contain %q", ae.Message, s)
		}
	}
}
