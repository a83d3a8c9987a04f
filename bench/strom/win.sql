-- (c) 1 s tumbling event-time window count per word over the kit's CSV 'word,ts_ms'.
-- Event time is computed from ts_ms as in the Flink SQL (TO_TIMESTAMP_LTZ(ts_ms, 3) there);
-- watermark = ts - 1 ms, so no record is late.
SET 'parallelism.default' = '${P}';
SET 'pipeline.name' = 'bench-win-p${P}';
CREATE TABLE words (word STRING, ts_ms BIGINT, ts AS TO_TIMESTAMP_MILLIS(ts_ms),
                    WATERMARK FOR ts AS ts - INTERVAL '1' MILLISECOND)
  WITH ('connector' = 'filesystem', 'path' = '${INPUT}', 'format' = 'csv');
CREATE TABLE sink (word STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), cnt BIGINT)
  WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT word, window_start, window_end, COUNT(*) AS cnt
FROM TABLE(TUMBLE(TABLE words, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY word, window_start, window_end;
