// Package i18n holds the message catalogs of the user interface. Every UI
// string, in templates and in the browser runtime, comes from here. A
// Catalog is read-only once loaded and safe for concurrent use.
package i18n
