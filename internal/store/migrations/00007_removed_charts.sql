-- +goose Up
-- removed_charts are the ids of charts removed in the browser, which are
-- not given to new charts while viewers may still hold their streams.
CREATE TABLE IF NOT EXISTS removed_charts (
    id         TEXT PRIMARY KEY,
    removed_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE removed_charts;
