-- A conference's jobs are found by subject (its summary, and its recordings' archive jobs):
-- without this index every conference detail (the API, the web page, a webhook's payload, a
-- summary email) scanned the whole job history, which only grows.
CREATE INDEX jobs_by_subject ON jobs (subject);
