package flinkd.examples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;
import org.apache.flink.util.ParameterTool;

/**
 * A stateful streaming job for flinkd's example and tests.
 *
 * <p>It counts records in keyed state and writes the running count to a file after each
 * record, so whether a job restored its state is visible from outside: after a restore
 * from a savepoint the count continues, after a fresh start it begins again at 1.
 *
 * <pre>
 *   --out FILE                  where the count is written (required)
 *   --rate N                    records per second (default 10)
 *   --limit N                   stop after N records, ending FINISHED (default: never)
 *   --fail-every N              throw on every N-th record, to exercise restarts (default: never)
 *   --checkpoint-interval MS    checkpoint interval, 0 = off (default 1000)
 * </pre>
 */
public class Counter {

    public static void main(String[] args) throws Exception {
        ParameterTool params = ParameterTool.fromArgs(args);
        String out = params.getRequired("out");
        long rate = params.getLong("rate", 10);
        long limit = params.getLong("limit", Long.MAX_VALUE - 1);
        long failEvery = params.getLong("fail-every", 0);
        long checkpointInterval = params.getLong("checkpoint-interval", 1000);

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (checkpointInterval > 0) {
            env.enableCheckpointing(checkpointInterval);
        }
        env.fromSequence(1, limit)
                .uid("sequence")
                .map(new Throttle(rate))
                .uid("throttle")
                .keyBy(new OneKey())
                .process(new Count(out, failEvery))
                .uid("count")
                .sinkTo(new DiscardingSink<>());
        env.execute("flinkd-counter");
    }

    /** Every record under one key, so one count covers the whole stream. */
    public static class OneKey implements KeySelector<Long, Integer> {
        @Override
        public Integer getKey(Long value) {
            return 0;
        }
    }

    /** Passes records on at most {@code rate} per second per subtask. */
    public static class Throttle extends RichMapFunction<Long, Long> {
        private final long pauseMillis;

        public Throttle(long rate) {
            this.pauseMillis = rate > 0 ? Math.max(1, 1000 / rate) : 0;
        }

        @Override
        public Long map(Long value) throws InterruptedException {
            if (pauseMillis > 0) {
                Thread.sleep(pauseMillis);
            }
            return value;
        }
    }

    /** The count, in keyed state, written to a file after every record. */
    public static class Count extends KeyedProcessFunction<Integer, Long, Long> {
        private final String out;
        private final long failEvery;
        private transient ValueState<Long> count;

        public Count(String out, long failEvery) {
            this.out = out;
            this.failEvery = failEvery;
        }

        @Override
        public void open(OpenContext context) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Long.class));
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<Long> collector)
                throws IOException {
            Long current = count.value();
            long next = (current == null ? 0 : current) + 1;
            if (failEvery > 0 && next % failEvery == 0) {
                throw new IllegalStateException("injected failure at count " + next);
            }
            count.update(next);
            write(next);
            collector.collect(next);
        }

        private void write(long value) throws IOException {
            Path target = Paths.get(out);
            Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
            Files.write(tmp, Long.toString(value).getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
