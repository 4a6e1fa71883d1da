-- +goose Up
CREATE TABLE dashboards (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    origin      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE charts (
    id           TEXT PRIMARY KEY,
    dashboard_id TEXT NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    definition   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX charts_dashboard ON charts(dashboard_id, position);

-- +goose Down
DROP TABLE charts;
DROP TABLE dashboards;
