-- Credentials issued (STS sessions, OAuth tokens, access keys), their holder's lifetime and human.
SELECT event_time, operation, actor, issued_credential_id,
       issued_credential_expires_at,
       (to_unixtime(issued_credential_expires_at) - to_unixtime(event_time)) / 60 AS lifetime_minutes,
       initiator
FROM events
WHERE issued_credential_id IS NOT NULL
ORDER BY event_time
LIMIT 50
