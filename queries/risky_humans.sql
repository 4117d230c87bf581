-- Risk leaderboard by human: whose delegated agents misbehave most.
SELECT initiator, max(human_risk) AS risk, count(*) AS findings,
       count(DISTINCT agent_instance) AS instances
FROM findings
WHERE initiator IS NOT NULL
GROUP BY initiator
ORDER BY risk DESC, findings DESC
LIMIT 50
