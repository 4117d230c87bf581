-- Triage queue: the riskiest findings first, with who, on whose behalf, and why.
SELECT risk_score, severity, detector, agent_id, agent_instance, initiator, summary
FROM findings
ORDER BY risk_score DESC, event_time
LIMIT 50
