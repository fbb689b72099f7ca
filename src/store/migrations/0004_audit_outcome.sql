-- How a recorded change went: "ok", or "error: <why>" (for MCP tool calls, the tool's own
-- error, since the HTTP status of a JSON-RPC answer is 200 either way). NULL on older rows.
ALTER TABLE audit_log ADD COLUMN outcome TEXT;
