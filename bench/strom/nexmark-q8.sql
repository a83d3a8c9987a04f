-- Nexmark q8 (monitor new users): people who opened an auction in the 10 s tumbling window in
-- which they registered. Flink's Nexmark text. strom plans it as Flink does: two window
-- aggregates (people, sellers) joined in a window join on id = seller and the window.
-- bench/harness/nexmark.py reads this file and runs it after the DDL of `person` and `auction`
-- (nexmark connector, watermark dateTime - 4 s).
CREATE TABLE sink (id BIGINT, name STRING, stime TIMESTAMP(3)) WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name, window_start AS starttime, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  GROUP BY id, name, window_start, window_end
) P
JOIN (
  SELECT seller, window_start AS starttime, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  GROUP BY seller, window_start, window_end
) A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
