package io.zerohop.benchmarks;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import java.nio.ByteBuffer;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * Drives a client and a server SSLEngine against each other in memory: a full handshake measured
 * without sockets, so the number is the TLS stack's, not the kernel's.
 */
final class EnginePair {
    private final ByteBuffer c2s = ByteBuffer.allocateDirect(1 << 16);
    private final ByteBuffer s2c = ByteBuffer.allocateDirect(1 << 16);
    private final ByteBuffer app = ByteBuffer.allocateDirect(1 << 17);
    private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0);

    /** One full handshake; throws if either side rejects the other. */
    void handshake(SslContext client, SslContext server) throws SSLException {
        SSLEngine c = client.newEngine(ByteBufAllocator.DEFAULT, "127.0.0.1", 15008);
        SSLEngine s = server.newEngine(ByteBufAllocator.DEFAULT);
        try {
            handshake(c, s);
        } finally {
            ReferenceCountUtil.release(c);
            ReferenceCountUtil.release(s);
        }
    }

    /**
     * A client and a server engine that have finished their handshake, for measuring records; the caller releases
     * both ({@code ReferenceCountUtil.release}).
     */
    SSLEngine[] connected(SslContext client, SslContext server) throws SSLException {
        SSLEngine c = client.newEngine(ByteBufAllocator.DEFAULT, "127.0.0.1", 15008);
        SSLEngine s = server.newEngine(ByteBufAllocator.DEFAULT);
        try {
            handshake(c, s);
            return new SSLEngine[] {c, s};
        } catch (SSLException | RuntimeException e) {
            ReferenceCountUtil.release(c);
            ReferenceCountUtil.release(s);
            throw e;
        }
    }

    private void handshake(SSLEngine c, SSLEngine s) throws SSLException {
        c2s.clear();
        s2c.clear();
        c.beginHandshake();
        s.beginHandshake();
        for (int i = 0; i < 64; i++) {
            boolean cp = step(c, s2c, c2s);
            boolean sp = step(s, c2s, s2c);
            if (done(c) && done(s)) {
                return;
            }
            if (!cp && !sp) {
                throw new SSLException("handshake stalled: client " + c.getHandshakeStatus() + ", server " + s.getHandshakeStatus());
            }
        }
        throw new SSLException("handshake did not finish");
    }

    private static boolean done(SSLEngine e) {
        HandshakeStatus h = e.getHandshakeStatus();
        return h == HandshakeStatus.NOT_HANDSHAKING || h == HandshakeStatus.FINISHED;
    }

    /** Advances one engine as far as it can; true if it made progress. */
    private boolean step(SSLEngine e, ByteBuffer in, ByteBuffer out) throws SSLException {
        boolean progress = false;
        while (true) {
            switch (e.getHandshakeStatus()) {
                case NEED_TASK -> {
                    for (Runnable t; (t = e.getDelegatedTask()) != null; ) {
                        t.run();
                    }
                    progress = true;
                }
                case NEED_WRAP -> {
                    SSLEngineResult r = e.wrap(EMPTY, out);
                    if (r.bytesProduced() == 0 && r.getStatus() != SSLEngineResult.Status.OK) {
                        return progress;
                    }
                    progress = true;
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    in.flip();
                    app.clear();
                    SSLEngineResult r = e.unwrap(in, app);
                    in.compact();
                    if (r.bytesConsumed() == 0 && r.bytesProduced() == 0
                            && e.getHandshakeStatus() != HandshakeStatus.NEED_TASK
                            && e.getHandshakeStatus() != HandshakeStatus.NEED_WRAP) {
                        return progress;
                    }
                    progress = true;
                }
                default -> {
                    return progress;
                }
            }
        }
    }
}
