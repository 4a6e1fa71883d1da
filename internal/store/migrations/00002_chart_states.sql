-- +goose Up
-- The last state of charts that hold pushed data, so that it survives a
-- restart. Charts bound to a query re-run it instead.
CREATE TABLE chart_states (
    chart_id   TEXT PRIMARY KEY,
    "offset"   INTEGER NOT NULL,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE chart_states;
