-- Linear issues are keyed by their id (a UUID) instead of their identifier (`ENG-123`):
-- comment events need not name the identifier, and a question asked on an issue waits for a
-- comment under the issue's key. Rows written before are re-keyed so they still meet.
UPDATE tasks
   SET source_key = json_extract(source, '$.detail.issue_id'),
       source = json_set(source, '$.key', json_extract(source, '$.detail.issue_id'))
 WHERE source_kind = 'linear.issue' AND json_valid(source)
   AND json_type(source, '$.detail.issue_id') = 'text';
UPDATE events
   SET source_key = json_extract(source, '$.detail.issue_id'),
       source = json_set(source, '$.key', json_extract(source, '$.detail.issue_id'))
 WHERE source_kind = 'linear.issue' AND json_valid(source)
   AND json_type(source, '$.detail.issue_id') = 'text';
