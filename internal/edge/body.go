package edge

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// BodyDeadline gives the body of each request d to arrive, from when its
// headers have been read: a read past it fails, and net/http then closes
// the connection. Once the body has been read to its end the deadline is
// lifted, so that a handler that runs long after it keeps its request's
// context. Requests without a body (among them the live socket's
// upgrade, whose connection is hijacked and keeps its own deadlines) get
// none.
func BodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline at the end of the body.
type deadlineBody struct {
	io.ReadCloser
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && b.lift != nil {
		b.lift()
		b.lift = nil
	}
	return n, err
}
