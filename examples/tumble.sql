-- Bids per item in 1 s tumbling windows on event time, with up to 2 s out-of-order records.
-- `strom local --run examples/tumble.sql`
SET 'parallelism.default' = '2';

CREATE TABLE bids (
  item BIGINT,
  price DOUBLE,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '20000',
  'rows-per-second' = '0',
  'seed' = '7',
  'fields.item.min' = '1',
  'fields.item.max' = '5',
  'fields.price.min' = '1',
  'fields.price.max' = '100',
  'fields.ts.step' = '1',
  'fields.ts.max-past' = '1500'
);

CREATE TABLE per_item (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  item BIGINT,
  bids BIGINT,
  top_price DOUBLE
) WITH (
  'connector' = 'print'
);

INSERT INTO per_item
SELECT window_start, window_end, item, COUNT(*), MAX(price)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, item;
