-- Credentials issued (STS sessions, OAuth tokens, access keys), their holder's lifetime and human.
SELECT event_time, operation, actor, issued_credential_id,
       issued_credential_expires_at,
       date_diff('minute', event_time, issued_credential_expires_at) AS lifetime_minutes,
       initiator
FROM events
WHERE issued_credential_id IS NOT NULL
ORDER BY event_time
LIMIT 50
