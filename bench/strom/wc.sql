-- (b) word count: GROUP BY word over the kit's CSV 'word,ts_ms' (an updating result).
SET 'parallelism.default' = '${P}';
SET 'pipeline.name' = 'bench-wc-p${P}';
CREATE TABLE words (word STRING, ts_ms BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${INPUT}', 'format' = 'csv');
CREATE TABLE sink (word STRING, cnt BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT word, COUNT(*) AS cnt FROM words GROUP BY word;
