-- Policy decisions that refused an agent instance, by instance, tool and policy (OPA, Verified Permissions).
SELECT agent_instance, tool, policy, source, count(*) AS denials, min(event_time) AS first_denied, max(event_time) AS last_denied
FROM events
WHERE category = 'policy_decision' AND decision_allowed = false
GROUP BY agent_instance, tool, policy, source
ORDER BY denials DESC
LIMIT 50
