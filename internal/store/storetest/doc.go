// Package storetest opens real metadata stores for tests, as httptest
// starts servers: a fresh one in a test's temporary directory, or the one
// of a data directory, closed when the test ends.
package storetest
