-- The Open WebUI chat and message a change was asked from, as Open WebUI forwarded them
-- (`X-OpenWebUI-Chat-Id`, `X-OpenWebUI-Message-Id`): never signed, so the caller's word even
-- when a signed token named the user. NULL when the request named none, and on older rows.
ALTER TABLE audit_log ADD COLUMN chat_id TEXT;
ALTER TABLE audit_log ADD COLUMN message_id TEXT;

-- `GET /api/audit?chat=` names a chat by its id.
CREATE INDEX audit_log_by_chat_id ON audit_log (chat_id, id);
