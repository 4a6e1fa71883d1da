// Package ashreports is the embeddable AshReports server: live charts on
// dashboards, fed by SQL queries and pushes, streamed to browsers over
// WebSocket through an embedded NATS broker.
//
//	srv, err := ashreports.New(ctx, ashreports.Config{DataDir: "data"})
//	if err != nil { … }
//	defer srv.Close()
//	http.Handle("/", srv.Handler())
//	srv.BroadcastChartUpdate(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: rows})
//
// A Server is safe for concurrent use. Close stops every goroutine it
// started.
package ashreports
