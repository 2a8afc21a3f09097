package io.zerohop.benchmarks;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.ReadOnlyHttp2Headers;
import io.netty.util.AsciiString;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The HPACK work of one tunnel's 200 on a warm connection, both ends, one thread: the server's header block built as
 * mesh-hbone's InboundTunnel builds it ({@code ReadOnlyHttp2Headers.serverHeaders}, the status alone or with the
 * {@code baggage} value) and encoded by Netty's {@code DefaultHttp2HeadersEncoder}, then decoded by Netty's
 * {@code DefaultHttp2HeadersDecoder} as the client's frame codec configures it (names validated, values not). The
 * encoder and decoder keep their dynamic tables across ops, as a pooled connection does: after the first 200 of a
 * connection the baggage field is one indexed byte, so what is left per open is the encoder's table lookup (a hash and a
 * compare of the 122-byte value) and the decoder's second field. {@code baggage=none} is the 200 before 5 December,
 * {@code workload} the value mesh-core's resolver gives the load runner's {@code bench/server} workload (ztunnel's
 * {@code build_response}, istio/ztunnel src/proxy/inbound.rs, under {@code ENABLE_RESPONSE_BAGGAGE}). The whole open
 * with and without it: {@link StreamOpenBenchmark} {@code -p baggage=...} ({@code results/baggage-*.md}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ResponseHeadersBenchmark {
    private static final AsciiString STATUS_200 = AsciiString.cached("200");
    private static final AsciiString BAGGAGE = AsciiString.cached("baggage");

    @Param({"none", "workload"})
    public String baggage;

    private AsciiString value;
    private DefaultHttp2HeadersEncoder encoder;
    private DefaultHttp2HeadersDecoder decoder;
    private ByteBuf block;
    private int streamId = 1;

    @Setup
    public void setUp() throws Exception {
        value = baggage.equals("none") ? null : new AsciiString(StreamOpenBenchmark.SERVER_BAGGAGE);
        encoder = new DefaultHttp2HeadersEncoder();
        decoder = new DefaultHttp2HeadersDecoder(true);
        block = PooledByteBufAllocator.DEFAULT.directBuffer(256);
        roundTrip(); // the connection's first 200: the field enters both dynamic tables
    }

    @TearDown
    public void tearDown() {
        block.release();
    }

    @Benchmark
    public Http2Headers roundTrip() throws Exception {
        Http2Headers ok = value == null ? ReadOnlyHttp2Headers.serverHeaders(false, STATUS_200)
                : ReadOnlyHttp2Headers.serverHeaders(false, STATUS_200, BAGGAGE, value);
        block.clear();
        encoder.encodeHeaders(streamId, ok, block);
        Http2Headers decoded = decoder.decodeHeaders(streamId, block);
        streamId += 2;
        if (streamId < 0) {
            streamId = 1;
        }
        return decoded;
    }
}
