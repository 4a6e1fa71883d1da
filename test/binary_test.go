package test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type record struct {
	deflated bool
	frame    frame
	raw      []byte
}

// readRecords reads one binary message and decodes its records.
func readRecords(t *testing.T, ws *websocket.Conn) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	typ, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if typ != websocket.MessageBinary {
		t.Fatalf("got a %v message, want binary", typ)
	}
	var out []record
	for len(b) > 0 {
		flags := b[0]
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || int(n) > len(b)-1-k {
			t.Fatalf("bad record header % x", b[:min(len(b), 12)])
		}
		payload := b[1+k : 1+k+int(n)]
		b = b[1+k+int(n):]
		r := record{deflated: flags&1 == 1, raw: payload}
		if r.deflated {
			var err error
			payload, err = io.ReadAll(flate.NewReader(bytes.NewReader(payload)))
			if err != nil {
				t.Fatalf("inflate: %v", err)
			}
		}
		if err := json.Unmarshal(payload, &r.frame); err != nil {
			t.Fatalf("record %s: %v", payload, err)
		}
		out = append(out, r)
	}
	return out
}

// TestBinaryFormatCompressesLargeFrames opens a binary connection: every
// message is a sequence of records, small frames go as they are and large
// ones compressed.
func TestBinaryFormatCompressesLargeFrames(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/live?format=binary", &websocket.DialOptions{HTTPHeader: bearer()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if recs := readRecords(t, ws); len(recs) != 1 || recs[0].frame.Type != "hello" || recs[0].deflated {
		t.Fatalf("first message = %+v, want an uncompressed hello", recs)
	}
	post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp))
	if err := ws.Write(ctx, websocket.MessageBinary, []byte(`{"ref":"1","type":"subscribe","chart":"orders"}`)); err == nil {
		// Client messages are JSON text; a binary one is refused.
		if recs := readRecords(t, ws); recs[0].frame.OK || recs[0].frame.Error == nil {
			t.Fatalf("binary client message accepted: %+v", recs[0].frame)
		}
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"ref":"2","type":"subscribe","chart":"orders"}`)); err != nil {
		t.Fatal(err)
	}
	var got []record
	for len(got) < 2 {
		got = append(got, readRecords(t, ws)...)
	}
	if got[0].frame.Type != "snapshot" || got[0].deflated || got[1].frame.Type != "reply" {
		t.Fatalf("subscribe gave %+v", got)
	}
	big := `{"op":"append","rows":[["` + strings.Repeat("abc", 1000) + `",1]]}`
	post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(big))
	recs := readRecords(t, ws)
	if len(recs) != 1 || recs[0].frame.Type != "op" || !recs[0].deflated || len(recs[0].raw) >= 1000 {
		t.Fatalf("large op = %d records, first deflated %v, %d bytes; want one compressed op", len(recs), recs[0].deflated, len(recs[0].raw))
	}
	if in, out := metric(t, s.URL, "ashreports_compress_in_bytes_total"), metric(t, s.URL, "ashreports_compress_out_bytes_total"); in < 3000 || out >= in/10 {
		t.Errorf("compression metrics in %v out %v", in, out)
	}
}
