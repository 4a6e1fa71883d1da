// Package test holds AshReports' black-box tests: each starts a real
// server (package ashreportstest) on a loopback port with real SQLite,
// NATS and WebSocket, and drives it from outside as its users do, over
// HTTP, sockets and a headless Chromium. harness_test.go is their one
// harness: start a server, sign in, dial, drive the browser; package wait
// waits for what the server does in its own time (nats-server's checkFor).
package test
