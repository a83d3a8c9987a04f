-- Nexmark q5 (hot items): per HOP window (2 s slide, 10 s size) on bid.dateTime, the auctions
-- with the most bids. Flink's Nexmark text. strom plans it as Flink does: a window aggregate
-- (COUNT per auction and window), a window aggregate over its results (MAX per window), and a
-- window join of the two on the window with num >= maxn as a filter.
-- bench/harness/nexmark.py reads this file and runs it after the DDL of `bid` (nexmark
-- connector, watermark dateTime - 4 s).
CREATE TABLE sink (auction BIGINT, num BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT AuctionBids.auction, AuctionBids.num
FROM (
  SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end
) AS AuctionBids
JOIN (
  SELECT MAX(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
  FROM (
    SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
  ) AS CountBids
  GROUP BY CountBids.starttime, CountBids.endtime
) AS MaxBids
ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
   AND AuctionBids.num >= MaxBids.maxn;
