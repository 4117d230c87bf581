-- Denied and failed actions per actor: probing shows up here first.
SELECT actor, actor_kind, outcome, count(*) AS attempts,
       array_agg(DISTINCT operation) AS operations
FROM events
WHERE outcome IN ('denied', 'failure')
GROUP BY actor, actor_kind, outcome
ORDER BY attempts DESC
LIMIT 50
