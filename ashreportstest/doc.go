// Package ashreportstest runs real AshReports servers for tests, as
// net/http/httptest does HTTP servers: on a loopback address of a free
// port, with a temporary data directory, stopped when the test ends.
//
//	srv := ashreportstest.NewServer(t, ashreports.Config{NoDemo: true, DashboardsDir: "testdata/dashboards"})
//	resp, err := http.Get(srv.URL + "/healthz")
//
// A Server's methods are for the test's goroutine.
package ashreportstest
