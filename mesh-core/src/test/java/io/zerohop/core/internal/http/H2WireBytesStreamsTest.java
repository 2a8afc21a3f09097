package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link H2WireBytes} keeps a stream's meter only while the stream lives: on one long-lived client connection, two
 * thousand streams with every ending a client or zerohop gives them (answered, reset by the client with its HEADERS or
 * after a DATA, reset while its answer waits in the client's window, denied, gRPC's trailers-only denial, a local reply,
 * refused by the codec for an upper-case field name, a header block cut by CONTINUATION and padded) leave no meter
 * behind, and every stream zerohop handled is reported once ({@code istio_requests_total}). A raw-socket client (its
 * own frames, HPACK from Netty's encoder with no dynamic table), Node's h2c echo server. Addresses 127.0.226.1-2.
 * Client resets stay under Netty's 200 per 30 s (Http2MaxRstFrameDecoder), which would end the connection.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class H2WireBytesStreamsTest {
    static final String PROXY = "127.0.226.1";
    static final String APP = "127.0.226.2";
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-path, namespace: prod}
            spec:
              action: DENY
              rules:
              - to:
                - operation:
                    paths: ["/denied"]
            """;

    @Test
    void everyEndingLeavesNoMeterOnOneConnection() throws Exception {
        Process app = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("jwt-echo-server.js"), APP).redirectErrorStream(true));
        EventLoopGroup group = Transports.newGroup(1, "h2-wire-streams");
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        AtomicReference<Channel> accepted = new AtomicReference<>();
        Channel listener = null;
        try {
            String[] ports = ChildProcess.firstLine(app).trim().split(" ");
            InetSocketAddress appAddress = new InetSocketAddress(APP, Integer.parseInt(ports[1]));
            HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build(),
                    group, meters, null, 1000);
            listener = PlaintextL7.listen(http, group, new InetSocketAddress(PROXY, 0), appAddress, AppProtocol.HTTP, b -> { },
                    accepted::set);
            int port = ((InetSocketAddress) listener.localAddress()).getPort();
            int streams = 2000;
            int handled = 0;
            try (RawClient c = new RawClient(new Socket(PROXY, port))) {
                for (int batch = 0; batch < streams; batch += 100) {
                    Set<Integer> mine = ConcurrentHashMap.newKeySet();
                    for (int i = batch; i < batch + 100; i++) {
                        int id = 2 * i + 1;
                        int kind = i % 40;
                        handled += kind == 5 ? 0 : 1;
                        mine.add(id);
                        switch (kind) {
                            case 1 -> c.send(c.headers(id, get("/ok"), true, 0), rst(id));             // reset with its HEADERS
                            case 2 -> c.send(c.headers(id, post("/post"), false, 0), data(id, 100, false, 7), rst(id));
                            case 3 -> { c.unread.add(id); c.send(c.headers(id, get("/ok"), true, 0)); } // its answer waits
                            case 4, 9 -> c.send(c.headers(id, get("/denied"), true, 0));              // 403
                            case 5 -> c.send(c.headers(id, get("/ok").add("X-Upper", "1"), true, 0)); // codec's RST
                            case 6 -> c.send(c.continued(id, get("/cut").add("x-big", "v".repeat(3000)), 11)); // CONTINUATION, padded
                            case 7 -> c.send(c.headers(id, post("/denied").add("content-type", "application/grpc")
                                    .add("te", "trailers"), true, 0));                                  // trailers-only
                            case 10 -> c.send(c.continued(id, get("/ok").add("x-big", "v".repeat(70_000)), 0)); // over 60 KiB: reset
                            case 11 -> c.send(c.continued(id, get("/ok").add("x-big", "v".repeat(270_000)), 0)); // over 256 KiB: Netty's 431
                            case 8 -> c.send(c.headers(id, new DefaultHttp2Headers(false).method("OPTIONS").path("*")
                                    .scheme("http").authority("backend"), true, 0));                    // local 404
                            default -> c.send(c.headers(id, get("/ok"), true, 0));
                        }
                        if (kind == 1 || kind == 2) {
                            c.ended.add(id);
                        }
                    }
                    c.awaitEnded(mine, batch);
                    for (int id : mine) {
                        if (c.unread.remove(id)) {
                            c.send(rst(id));
                        }
                    }
                }
                int expected = handled;
                Channel down = accepted.get();
                H2WireBytes wire = down.pipeline().get(H2WireBytes.class);
                // The last resets are read and their streams closed on the event loop: wait for every report.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (requests(meters) < expected && System.nanoTime() < deadline) {
                    java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);  // polled: no busy loop on a shared machine
                }
                assertThat(requests(meters)).as("streams reported").isEqualTo(expected);
                int kept = down.eventLoop().submit(wire::kept).get();
                assertThat(kept).as("meters kept after every stream ended").isZero();
                assertThat(down.isActive()).as("the connection lived through them all").isTrue();
            }
        } finally {
            if (listener != null) {
                listener.close().sync();
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static double requests(SimpleMeterRegistry meters) {
        return meters.find("istio.requests").counters().stream().mapToDouble(x -> x.count()).sum();
    }

    private static Http2Headers get(String path) {
        return new DefaultHttp2Headers(false).method("GET").path(path).scheme("http").authority("backend");
    }

    private static Http2Headers post(String path) {
        return new DefaultHttp2Headers(false).method("POST").path(path).scheme("http").authority("backend");
    }

    static byte[] frame(int type, int flags, int stream, byte[] payload) {
        byte[] f = new byte[9 + payload.length];
        f[0] = (byte) (payload.length >>> 16);
        f[1] = (byte) (payload.length >>> 8);
        f[2] = (byte) payload.length;
        f[3] = (byte) type;
        f[4] = (byte) flags;
        f[5] = (byte) (stream >>> 24);
        f[6] = (byte) (stream >>> 16);
        f[7] = (byte) (stream >>> 8);
        f[8] = (byte) stream;
        System.arraycopy(payload, 0, f, 9, payload.length);
        return f;
    }

    static byte[] rst(int stream) {
        return frame(3, 0, stream, new byte[] {0, 0, 0, 8});
    }

    static byte[] data(int stream, int length, boolean end, int pad) {
        byte[] p = new byte[1 + length + pad];
        p[0] = (byte) pad;
        return frame(0, 0x8 | (end ? 1 : 0), stream, p);
    }

    /** One connection's frames: writes from the test's thread, a reader thread that takes the answers. */
    static final class RawClient implements AutoCloseable {
        final Socket socket;
        final OutputStream out;
        final DefaultHttp2HeadersEncoder hpack = new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, true);
        /** Streams the server ended (END_STREAM or RST_STREAM), or the client did. */
        final Set<Integer> ended = ConcurrentHashMap.newKeySet();
        /** Streams whose answer the client never lets in (no window for them). */
        final Set<Integer> unread = ConcurrentHashMap.newKeySet();
        final Set<Integer> answered = ConcurrentHashMap.newKeySet();
        final Thread reader;
        volatile Throwable failed;

        RawClient(Socket socket) throws Exception {
            this.socket = socket;
            this.out = socket.getOutputStream();
            hpack.configuration().maxHeaderTableSize(0);
            // SETTINGS_INITIAL_WINDOW_SIZE 0: each answer gets its window when its head comes, but those in unread.
            send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
                    frame(4, 0, 0, new byte[] {0, 4, 0, 0, 0, 0}),
                    frame(8, 0, 0, new byte[] {0x3f, 0, 0, 0}));
            reader = new Thread(this::read, "h2-wire-streams-reader");
            reader.setDaemon(true);
            reader.start();
        }

        synchronized void send(byte[]... frames) throws IOException {
            for (byte[] f : frames) {
                out.write(f);
            }
            out.flush();
        }

        byte[] block(int stream, Http2Headers h) throws Exception {
            ByteBuf b = Unpooled.buffer();
            try {
                hpack.encodeHeaders(stream, h, b);
                byte[] a = new byte[b.readableBytes()];
                b.readBytes(a);
                return a;
            } finally {
                b.release();
            }
        }

        synchronized byte[] headers(int stream, Http2Headers h, boolean end, int pad) throws Exception {
            byte[] block = block(stream, h);
            return frame(1, 0x4 | (end ? 1 : 0), stream, block);
        }

        /** A padded HEADERS with END_STREAM carrying the block's first 8,000 bytes, CONTINUATIONs with the rest. */
        synchronized byte[] continued(int stream, Http2Headers h, int pad) throws Exception {
            byte[] block = block(stream, h);
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            int first = Math.min(8000, block.length / 2);
            byte[] p = new byte[1 + first + pad];
            p[0] = (byte) pad;
            System.arraycopy(block, 0, p, 1, first);
            all.writeBytes(frame(1, 0x8 | 0x1, stream, p));
            for (int at = first; at < block.length; at += 16000) {
                int end = Math.min(block.length, at + 16000);
                all.writeBytes(frame(9, end == block.length ? 0x4 : 0, stream, java.util.Arrays.copyOfRange(block, at, end)));
            }
            return all.toByteArray();
        }

        void awaitEnded(Set<Integer> ids, int batch) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline) {
                if (failed != null) {
                    throw new AssertionError("reader failed at batch " + batch, failed);
                }
                boolean all = true;
                for (int id : ids) {
                    if (!ended.contains(id) && !(unread.contains(id) && answered.contains(id))) {
                        all = false;
                        break;
                    }
                }
                if (all) {
                    return;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);  // polled: no busy loop on a shared machine
            }
            throw new AssertionError("batch " + batch + " not ended: "
                    + ids.stream().filter(id -> !ended.contains(id)).sorted().limit(10).toList());
        }

        private void read() {
            try {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                byte[] h = new byte[9];
                while (true) {
                    in.readFully(h);
                    int length = (h[0] & 0xff) << 16 | (h[1] & 0xff) << 8 | h[2] & 0xff;
                    int type = h[3] & 0xff;
                    int flags = h[4] & 0xff;
                    int stream = (h[5] & 0x7f) << 24 | (h[6] & 0xff) << 16 | (h[7] & 0xff) << 8 | h[8] & 0xff;
                    byte[] payload = new byte[length];
                    in.readFully(payload);
                    if (type == 4 && (flags & 1) == 0) {
                        send(frame(4, 1, 0, new byte[0]));
                    } else if (type == 7) {
                        throw new IOException("GOAWAY " + java.util.Arrays.toString(java.util.Arrays.copyOf(payload, 8)));
                    } else if (type == 1 && stream != 0) {
                        answered.add(stream);
                        if (!unread.contains(stream)) {
                            send(frame(8, 0, stream, new byte[] {0, 1, 0, 0}));
                        }
                    }
                    if (stream != 0 && (type == 3 || (type == 0 || type == 1) && (flags & 1) != 0)) {
                        ended.add(stream);
                    }
                }
            } catch (EOFException e) {
                failed = e;
            } catch (Throwable e) {
                if (!socket.isClosed()) {
                    failed = e;
                }
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
