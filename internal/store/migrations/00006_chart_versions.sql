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
-- chart_history keeps each saved chart edit's definition from before it,
-- so that its author can undo it: undone marks edits undone, is_undo the
-- saves that undid one.
CREATE TABLE chart_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    chart_id     TEXT NOT NULL REFERENCES charts(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    to_version   INTEGER NOT NULL,
    before       TEXT NOT NULL,
    is_undo      INTEGER NOT NULL DEFAULT 0,
    undone       INTEGER NOT NULL DEFAULT 0,
    at           TEXT NOT NULL
);
CREATE INDEX chart_history_user ON chart_history(user_id, id);
-- A dashboard's history reads the audit log by what was changed.
CREATE INDEX audit_log_target ON audit_log(target, id);

-- +goose Down
DROP INDEX audit_log_target;
DROP TABLE chart_history;
ALTER TABLE dashboards DROP COLUMN layout_version;
ALTER TABLE dashboards DROP COLUMN source_hash;
ALTER TABLE charts DROP COLUMN version;
