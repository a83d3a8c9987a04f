-- (a) stateless filter + projection over the kit's CSV 'word,ts_ms' (about 60% of rows pass).
SET 'parallelism.default' = '${P}';
SET 'pipeline.name' = 'bench-filter-p${P}';
CREATE TABLE words (word STRING, ts_ms BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${INPUT}', 'format' = 'csv');
CREATE TABLE sink (word STRING, len INT, sec BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT UPPER(word) AS word, CHAR_LENGTH(word) AS len, ts_ms / 1000 AS sec
FROM words WHERE CHAR_LENGTH(word) > 6;
