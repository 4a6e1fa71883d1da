// Package audit is the audit log's model: an Entry for each thing done or
// refused that an organization's admins may review, and the Change of a
// dashboard's chart that a dashboard's history shows. The store keeps
// them; the services that act write them. It keeps no state.
package audit
