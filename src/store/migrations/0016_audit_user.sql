-- The Open WebUI user a change was made for, as Open WebUI forwarded it: its connections call
-- with one key whoever is chatting, so `actor` names the connection and these the person.
-- NULL when the request named no user. `user_verified`: 1 when Open WebUI's signed token
-- named them, 0 for its plain headers (the caller's word).
ALTER TABLE audit_log ADD COLUMN user_id TEXT;
ALTER TABLE audit_log ADD COLUMN user_name TEXT;
ALTER TABLE audit_log ADD COLUMN user_email TEXT;
ALTER TABLE audit_log ADD COLUMN user_role TEXT;
ALTER TABLE audit_log ADD COLUMN user_verified INTEGER CHECK (user_verified IN (0, 1));

-- `GET /api/audit?user=` names a user by id or by email address.
CREATE INDEX audit_log_by_user_id ON audit_log (user_id, id);
CREATE INDEX audit_log_by_user_email ON audit_log (user_email, id);
