-- The events behind the riskiest findings, joined back to the raw records'
-- origins (file:line or topic/partition/offset).
SELECT f.risk_score, f.finding_id, f.detector, e.event_time, e.source, e.operation, e.origin
FROM (
    SELECT risk_score, finding_id, detector, unnest(evidence) AS event_id
    FROM findings
) f
JOIN events e ON e.event_id = f.event_id
ORDER BY f.risk_score DESC, f.finding_id, e.event_time
LIMIT 200
