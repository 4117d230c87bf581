-- Secret reads: who read which secret, with which credential, for whom.
SELECT event_time, actor, actor_kind, initiator, credential_id, operation, secrets
FROM events
WHERE reads_secret
ORDER BY event_time
LIMIT 50
