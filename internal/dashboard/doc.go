// Package dashboard defines dashboards, chart definitions and layouts, and
// loads dashboards from YAML files (the provisioning format documented in
// docs/dashboards.md). It validates definitions (checking queries' SQL
// parameters with package sqlparam, which links no SQL driver) and does no
// I/O besides reading the files it is asked to load. Its values are plain
// data, safe to share once made; Validate fills defaults in, so it changes
// the value it is called on.
package dashboard
