-- (a) stateless filter + projection over the kit's CSV 'word,ts_ms' (about 60% of rows pass).
-- Variables: ${P} parallelism, ${INPUT} a file (p=1) or a folder of part files (p=2).
SET 'execution.runtime-mode' = 'streaming';
SET 'pipeline.name' = 'bench-filter-p${P}';
SET 'parallelism.default' = '${P}';
CREATE TEMPORARY TABLE words (word STRING, ts_ms BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${INPUT}', 'format' = 'csv');
CREATE TEMPORARY TABLE sink (word STRING, len INT, sec BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT UPPER(word) AS word, CHAR_LENGTH(word) AS len, ts_ms / 1000 AS sec
FROM words WHERE CHAR_LENGTH(word) > 6;
