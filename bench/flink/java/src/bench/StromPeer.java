package bench;

import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.api.java.tuple.Tuple5;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * Hand-written DataStream jobs for the strom benchmark workloads the peer kit's StreamBench
 * lacks. Same output line as StreamBench: 'JAVARESULT {json}'.
 *
 * <pre>
 *  --query filter --input PATH : CSV lines "word,ts_ms"; rows with a word longer than 6
 *                 characters, projected to (UPPER(word), length, ts_ms / 1000)
 *  --query nexmark-q0|q1|q2|q5|q8 --input FOLDER : the Nexmark events strom exported as CSV
 *                 (FOLDER/bid, FOLDER/person, FOLDER/auction), the queries of Nexmark's Flink SQL
 *                 written as DataStream programs; watermarks dateTime - 4 s
 * </pre>
 * PATH is a file or a folder of part files (one reader per file). Parallelism comes from
 * {@code flink run -p N}.
 */
public class StromPeer {
    static Map<String, String> parseArgs(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value pairs, got: " + args[i]);
            }
            m.put(args[i].substring(2), args[i + 1]);
        }
        return m;
    }

    static DataStream<String> lines(StreamExecutionEnvironment env, String path) {
        FileSource<String> fs = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(path)).build();
        return env.fromSource(fs, WatermarkStrategy.noWatermarks(), "file");
    }


    /** "yyyy-MM-dd HH:mm:ss.SSS" (strom's CSV timestamps, UTC) as epoch milliseconds. */
    static long millis(String s) {
        return LocalDateTime.parse(s.replace(' ', 'T')).toInstant(ZoneOffset.UTC).toEpochMilli();
    }

    static <T> WatermarkStrategy<T> nexmarkWatermarks(int timeField) {
        return WatermarkStrategy.<T>forBoundedOutOfOrderness(Duration.ofSeconds(4))
                .withTimestampAssigner((e, ts) -> (Long) ((org.apache.flink.api.java.tuple.Tuple) e).getField(timeField));
    }

    /** Bids as (auction, bidder, price, dateTime ms, extra). */
    static DataStream<Tuple5<Long, Long, Long, Long, String>> bids(StreamExecutionEnvironment env, String folder) {
        return lines(env, folder + "/bid")
                .map(l -> {
                    String[] f = l.split(",", -1);
                    return Tuple5.of(Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2]), millis(f[5]), f[6]);
                })
                .returns(Types.TUPLE(Types.LONG, Types.LONG, Types.LONG, Types.LONG, Types.STRING))
                .assignTimestampsAndWatermarks(nexmarkWatermarks(3));
    }

    /** Counts per key and window, emitted as (key, count, window end). */
    static class Count<T> implements AggregateFunction<T, Long, Long> {
        public Long createAccumulator() { return 0L; }
        public Long add(T v, Long acc) { return acc + 1; }
        public Long getResult(Long acc) { return acc; }
        public Long merge(Long a, Long b) { return a + b; }
    }

    static class WithWindow extends ProcessWindowFunction<Long, Tuple3<Long, Long, Long>, Long, TimeWindow> {
        public void process(Long key, Context ctx, Iterable<Long> counts, Collector<Tuple3<Long, Long, Long>> out) {
            out.collect(Tuple3.of(key, counts.iterator().next(), ctx.window().getEnd()));
        }
    }

    /** q5's second half: per window end, the auctions whose count is the window's maximum. */
    static class HottestPerWindow extends KeyedProcessFunction<Long, Tuple3<Long, Long, Long>, Tuple2<Long, Long>> {
        transient ListState<Tuple2<Long, Long>> rows;
        transient ValueState<Long> max;

        @Override
        public void open(OpenContext openContext) {
            rows = getRuntimeContext().getListState(new ListStateDescriptor<>("rows", Types.TUPLE(Types.LONG, Types.LONG)));
            max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
        }

        public void processElement(Tuple3<Long, Long, Long> r, Context ctx, Collector<Tuple2<Long, Long>> out) throws Exception {
            rows.add(Tuple2.of(r.f0, r.f1));
            Long m = max.value();
            if (m == null || r.f1 > m) {
                max.update(r.f1);
            }
            // results of a window carry the timestamp end - 1: all are in once the watermark passes it
            ctx.timerService().registerEventTimeTimer(r.f2 - 1);
        }

        public void onTimer(long ts, OnTimerContext ctx, Collector<Tuple2<Long, Long>> out) throws Exception {
            long m = max.value();
            for (Tuple2<Long, Long> r : rows.get()) {
                if (r.f1 >= m) {
                    out.collect(r);
                }
            }
            rows.clear();
            max.clear();
        }
    }

    static void nexmark(StreamExecutionEnvironment env, String query, String folder) {
        switch (query) {
            case "nexmark-q0":
                bids(env, folder).map(b -> b).returns(Types.TUPLE(Types.LONG, Types.LONG, Types.LONG, Types.LONG, Types.STRING))
                        .sinkTo(new DiscardingSink<>());
                break;
            case "nexmark-q1":
                bids(env, folder).map(b -> Tuple5.of(b.f0, b.f1, b.f2 * 0.908, b.f3, b.f4))
                        .returns(Types.TUPLE(Types.LONG, Types.LONG, Types.DOUBLE, Types.LONG, Types.STRING))
                        .sinkTo(new DiscardingSink<>());
                break;
            case "nexmark-q2":
                bids(env, folder).filter(b -> b.f0 % 123 == 0).map(b -> Tuple2.of(b.f0, b.f2))
                        .returns(Types.TUPLE(Types.LONG, Types.LONG))
                        .sinkTo(new DiscardingSink<>());
                break;
            case "nexmark-q5":
                bids(env, folder)
                        .keyBy(b -> b.f0)
                        .window(SlidingEventTimeWindows.of(Duration.ofSeconds(10), Duration.ofSeconds(2)))
                        .aggregate(new Count<Tuple5<Long, Long, Long, Long, String>>(), new WithWindow())
                        .keyBy(r -> r.f2)
                        .process(new HottestPerWindow())
                        .sinkTo(new DiscardingSink<>());
                break;
            case "nexmark-q8": {
                DataStream<Tuple3<Long, String, Long>> people = lines(env, folder + "/person")
                        .map(l -> {
                            String[] f = l.split(",", -1);
                            return Tuple3.of(Long.parseLong(f[0]), f[1], millis(f[6]));
                        })
                        .returns(Types.TUPLE(Types.LONG, Types.STRING, Types.LONG))
                        .assignTimestampsAndWatermarks(nexmarkWatermarks(2));
                DataStream<Tuple2<Long, Long>> sellers = lines(env, folder + "/auction")
                        .map(l -> {
                            String[] f = l.split(",", -1);
                            return Tuple2.of(Long.parseLong(f[7]), millis(f[5]));
                        })
                        .returns(Types.TUPLE(Types.LONG, Types.LONG))
                        .assignTimestampsAndWatermarks(nexmarkWatermarks(1));
                // distinct (id, name) and seller per 10 s window, then joined on id = seller per window
                DataStream<Tuple3<Long, String, Long>> p = people.keyBy(t -> t.f0)
                        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10))).reduce((a, b) -> a);
                DataStream<Tuple2<Long, Long>> a = sellers.keyBy(t -> t.f0)
                        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10))).reduce((x, y) -> x);
                p.join(a).where(t -> t.f0).equalTo(t -> t.f0)
                        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
                        .apply((x, y) -> Tuple3.of(x.f0, x.f1, x.f2 - x.f2 % 10_000), Types.TUPLE(Types.LONG, Types.STRING, Types.LONG))
                        .sinkTo(new DiscardingSink<>());
                break;
            }
            default:
                throw new IllegalArgumentException("unknown --query " + query);
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = parseArgs(args);
        String query = a.getOrDefault("query", "");
        String input = a.get("input");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        switch (query) {
            case "filter":
                lines(env, input)
                        .map(l -> {
                            int c = l.indexOf(',');
                            return Tuple2.of(l.substring(0, c), Long.parseLong(l.substring(c + 1)));
                        })
                        .returns(Types.TUPLE(Types.STRING, Types.LONG))
                        .filter(t -> t.f0.length() > 6)
                        .map(t -> Tuple3.of(t.f0.toUpperCase(), t.f0.length(), t.f1 / 1000))
                        .returns(Types.TUPLE(Types.STRING, Types.INT, Types.LONG))
                        .sinkTo(new DiscardingSink<>());
                break;
            default:
                nexmark(env, query, input);
        }
        long t0 = System.nanoTime();
        JobExecutionResult r = env.execute("strompeer-" + query + "-p" + env.getParallelism());
        long t1 = System.nanoTime();
        long net = -1;
        try {
            net = r.getNetRuntime();
        } catch (Exception detached) {
            // a detached submission has no execution result
        }
        System.out.printf("JAVARESULT {\"job_id\":\"%s\",\"net_runtime_ms\":%d,\"execute_wall_ms\":%d,\"parallelism\":%d}%n",
                r.getJobID(), net, (t1 - t0) / 1_000_000, env.getParallelism());
    }
}
