-- Actions outside the task envelope a human approved, with what each broke.
SELECT event_time, agent_instance, approved_by, envelope_id, task_id, source, operation, tool, envelope_breaches
FROM events
WHERE inside_envelope = false
ORDER BY event_time
LIMIT 100
