-- Events per source and category: what is flowing in.
SELECT source, category, count(*) AS events, min(event_time) AS first_seen, max(event_time) AS last_seen
FROM events
GROUP BY source, category
ORDER BY source, events DESC
