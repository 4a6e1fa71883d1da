package test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ashreports/ashreports"
)

// BenchmarkAckedAppends measures acknowledged appends per second into one
// chart from concurrent publishers (8 per core), each POSTing to
// /api/v1/charts/orders/updates and waiting for its 200: the answer comes
// once the op is stored. Server and publishers share the machine.
//
//	go test -run '^$' -bench AckedAppends -benchtime 20000x ./test
func BenchmarkAckedAppends(b *testing.B) {
	srv := prepare(b, ashreports.Config{DashboardsDir: fixtures, NoDemo: true, RateLimits: unlimited}).start(b).URL
	cols := `{"op":"replace","data":{"columns":[{"name":"t","type":"string"},{"name":"n","type":"number"}],"rows":[]}}`
	if code := postOp(srv, cols); code != http.StatusOK {
		b.Fatalf("the chart's columns: %d", code)
	}
	var i atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := i.Add(1)
			if code := postOp(srv, fmt.Sprintf(`{"op":"append","rows":[["k%d",%d]]}`, n, n)); code != http.StatusOK {
				b.Errorf("append %d: %d", n, code)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func postOp(base, body string) int {
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/charts/orders/updates", strings.NewReader(body))
	req.Header = bearer()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// unlimited lifts the API's rate limits above what one machine sends, so
// that the bench measures the server and not its limits.
var unlimited = ashreports.RateLimits{Publish: 1e9, Read: 1e9, PerIP: 1e9}
