-- +goose Up
-- access_version counts changes to who may see what (roles, memberships,
-- token and session revocations, where dashboards and charts belong), by
-- any process: servers poll it, drop what they cached of access and
-- recheck their live connections when it moves.
CREATE TABLE access_version (v INTEGER NOT NULL);
INSERT INTO access_version (v) VALUES (0);

-- +goose StatementBegin
CREATE TRIGGER memberships_changed_ins AFTER INSERT ON memberships BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_changed_upd AFTER UPDATE ON memberships BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_changed_del AFTER DELETE ON memberships BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dashboard_roles_changed_ins AFTER INSERT ON dashboard_roles BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dashboard_roles_changed_upd AFTER UPDATE ON dashboard_roles BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dashboard_roles_changed_del AFTER DELETE ON dashboard_roles BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_revoked AFTER UPDATE OF revoked_at ON api_tokens BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_deleted AFTER DELETE ON api_tokens BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_deleted AFTER DELETE ON users BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dashboards_moved AFTER UPDATE OF org_id ON dashboards BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dashboards_deleted AFTER DELETE ON dashboards BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER charts_deleted AFTER DELETE ON charts BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER charts_moved AFTER UPDATE OF dashboard_id ON charts BEGIN UPDATE access_version SET v = v + 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER charts_moved;
DROP TRIGGER charts_deleted;
DROP TRIGGER dashboards_deleted;
DROP TRIGGER dashboards_moved;
DROP TRIGGER users_deleted;
DROP TRIGGER sessions_revoked;
DROP TRIGGER api_tokens_deleted;
DROP TRIGGER api_tokens_revoked;
DROP TRIGGER dashboard_roles_changed_del;
DROP TRIGGER dashboard_roles_changed_upd;
DROP TRIGGER dashboard_roles_changed_ins;
DROP TRIGGER memberships_changed_del;
DROP TRIGGER memberships_changed_upd;
DROP TRIGGER memberships_changed_ins;
DROP TABLE access_version;
