-- +goose Up
-- A saved state keeps its epoch, so that viewers resume across a restart
-- (the ops after it are replayed from the broker's history).
ALTER TABLE chart_states ADD COLUMN epoch TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE chart_states DROP COLUMN epoch;
