-- +goose Up
-- version counts a chart definition's saves, so that an editor's save
-- based on an older version is refused instead of overwriting another's.
ALTER TABLE charts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- source_hash is the hash of a provisioned dashboard's definition as last
-- provisioned: provisioning the same definition again leaves the dashboard,
-- and the edits made to it since, alone.
ALTER TABLE dashboards ADD COLUMN source_hash TEXT NOT NULL DEFAULT '';
-- layout_version counts changes of a dashboard's charts as a whole:
-- added, removed, moved or resized.
ALTER TABLE dashboards ADD COLUMN layout_version INTEGER NOT NULL DEFAULT 1;
-- A dashboard's history reads the audit log by what was changed.
CREATE INDEX audit_log_target ON audit_log(target, id);

-- +goose Down
DROP INDEX audit_log_target;
ALTER TABLE dashboards DROP COLUMN layout_version;
ALTER TABLE dashboards DROP COLUMN source_hash;
ALTER TABLE charts DROP COLUMN version;
