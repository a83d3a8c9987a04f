-- Word count in SQL: `strom local --taskmanagers 2 --run examples/wordcount.sql`
SET 'parallelism.default' = '2';

CREATE TABLE words (
  word STRING
) WITH (
  'connector' = 'filesystem',
  'path' = 'words.csv',
  'format' = 'csv'
);

CREATE TABLE counts (
  word STRING,
  cnt BIGINT
) WITH (
  'connector' = 'print'
);

INSERT INTO counts
SELECT word, COUNT(*) AS cnt
FROM words
GROUP BY word;
