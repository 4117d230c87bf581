-- What agents did, on whose behalf, through which tools, and how it ended.
SELECT event_time, source, actor, agent_id, agent_instance, initiator, operation, tool, outcome
FROM events
WHERE actor_kind IN ('agent', 'sub_agent')
ORDER BY event_time
LIMIT 50
