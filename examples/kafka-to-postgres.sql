-- Clicks per page in 1-second tumbling windows, read from a Kafka topic and upserted into a
-- PostgreSQL table, exactly once. The script also writes its input: 100,000 generated clicks
-- into the topic, which the query reads up to offset 100,000 (so the run ends).
--
-- A broker and a database, from scripts/services.sh (`${...}` is taken from the environment):
--
--   set -a; eval "$(scripts/services.sh start kafka)"; eval "$(scripts/services.sh start postgres)"; set +a
--   psql "$POSTGRES_URL" -c "CREATE TABLE clicks_per_page (page INT, window_start TIMESTAMP(3),
--     window_end TIMESTAMP(3), clicks BIGINT, PRIMARY KEY (page, window_start))"
--   strom local --run examples/kafka-to-postgres.sql
--   psql "$POSTGRES_URL" -c "SELECT * FROM clicks_per_page ORDER BY window_start, page LIMIT 10"
--   scripts/services.sh stop
-- One subtask writes the topic's one partition, so its clicks stay in event-time order (two
-- writers would interleave their time ranges and the later one would make the other's late).
SET 'parallelism.default' = '1';
SET 'execution.checkpointing.interval' = '1 s';

CREATE TABLE generated (
  user_id BIGINT,
  page INT,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '100000',
  'rows-per-second' = '0',
  'seed' = '42',
  'fields.page.min' = '1',
  'fields.page.max' = '20',
  'fields.ts.start' = '1767225600000',
  'fields.ts.step' = '1',
  'fields.ts.max-past' = '300'
);

-- One partition, so that the first 100,000 offsets are this run's clicks.
CREATE TABLE clicks (
  user_id BIGINT,
  page INT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'clicks',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP}',
  'properties.group.id' = 'clicks-per-page',
  'properties.allow.auto.create.topics' = 'true',
  'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'specific-offsets',
  'scan.bounded.specific-offsets' = 'partition:0,offset:100000',
  'sink.partitioner' = 'fixed',
  'format' = 'json'
);

CREATE TABLE clicks_per_page (
  page INT,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  clicks BIGINT,
  PRIMARY KEY (page, window_start) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${POSTGRES_JDBC_URL}',
  'table-name' = 'clicks_per_page',
  'username' = 'strom',
  'password' = 'strom'
);

INSERT INTO clicks SELECT user_id, page, ts FROM generated;

INSERT INTO clicks_per_page
SELECT page, window_start, window_end, COUNT(*)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY page, window_start, window_end;
