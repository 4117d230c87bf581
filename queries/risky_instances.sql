-- Risk leaderboard by agent instance: accumulated (decayed) risk, how many
-- findings, from which detectors.
SELECT agent_instance, agent_id, initiator,
       max(instance_risk) AS risk,
       count(*) AS findings,
       array_agg(DISTINCT detector) AS detectors
FROM findings
GROUP BY agent_instance, agent_id, initiator
ORDER BY risk DESC, findings DESC
LIMIT 50
