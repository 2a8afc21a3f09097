package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.zerohop.hbone.internal.Inspect;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * The servers of the tests on the streams an HBONE server resets (LocalErrorResetLimitTest, LateFramesNotCountedTest,
 * ServerResetStreamCacheTest): on {@code host}, an echoing upstream at {@code port + 1}, an HBONE server proxying to it at
 * {@code port} whose hold of the streams it reset runs on {@code holdClock} ({@code Inspect.resetClock}), and the same
 * server with room for one tunnel per connection at {@code port + 2}, which refuses what passes it with REFUSED_STREAM.
 */
final class ResetServers implements AutoCloseable {
    static final Duration WAIT = Duration.ofSeconds(10);
    final Mesh mesh = new Mesh();
    final StreamErrorCodeTest.Upstream upstream;
    final HboneServer server;
    final HboneServer oneStream;
    /** The upstream's address, as a CONNECT's {@code :authority}. */
    final String authority;

    ResetServers(String host, int port, LongSupplier holdClock) throws Exception {
        upstream = new StreamErrorCodeTest.Upstream(host, port + 1);
        InetSocketAddress up = new InetSocketAddress(host, port + 1);
        authority = host + ":" + (port + 1);
        server = mesh.proxyTo(up).bind(new InetSocketAddress(host, port)).build().start().get();
        Inspect.resetClock(server, holdClock);
        oneStream = mesh.proxyTo(up).maxConcurrentStreams(1).bind(new InetSocketAddress(host, port + 2)).build().start().get();
    }

    Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    /** A peer on {@code s} with a sentinel tunnel on stream 1 that echoes. */
    RawFrames withSentinel(HboneServer s) throws Exception {
        RawFrames p = mesh.peer(s);
        p.headers(1, connect(), false);
        assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
        H2ProtocolTest.assertEchoes(p, 1, "sentinel");
        return p;
    }

    @Override
    public void close() {
        oneStream.close();
        server.close();
        upstream.close();
        mesh.close();
    }
}
