-- Under what approval each agent action ran: the decision that allowed it (and how it was bound), the envelope, who approved it, and whether the action stayed inside.
SELECT event_time, agent_instance, operation, tool, decision_id, decision_basis, decision_allowed,
       envelope_id, task_id, approved_by, inside_envelope, chain
FROM events
WHERE decision_id IS NOT NULL OR envelope_id IS NOT NULL
ORDER BY event_time
LIMIT 100
