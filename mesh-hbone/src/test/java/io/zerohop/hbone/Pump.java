package io.zerohop.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32;

/**
 * Sends {@code total} pseudo-random bytes over a tunnel stream channel (respecting writability), then
 * END_STREAM; checksums what it sends and what it receives until the peer's END_STREAM.
 */
final class Pump extends ChannelInboundHandlerAdapter {
    static final byte[] BLOCK = new byte[4 * 1024 * 1024];
    static final int CHUNK = 64 * 1024;

    static {
        new Random(7).nextBytes(BLOCK);
    }

    record Result(long sent, long sentCrc, long received, long receivedCrc) {}

    final CompletableFuture<Result> done = new CompletableFuture<>();
    private final long total;
    private final int seed;
    private final CRC32 crcOut = new CRC32();
    private final CRC32 crcIn = new CRC32();
    private long sent;
    private long received;
    private boolean ended;
    private ChannelHandlerContext ctx;

    Pump(long total, int seed) {
        this.total = total;
        this.seed = seed;
    }

    /** Installs the pump on an open client stream and starts it. */
    static CompletableFuture<Result> run(HboneStream stream, long total, int seed) {
        Pump p = new Pump(total, seed);
        Channel ch = stream.channel();
        ch.eventLoop().execute(() -> {
            ch.pipeline().addLast("pump", p);
            ch.config().setAutoRead(true);
            p.pump();
        });
        return p.done;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    void pump() {
        Channel ch = ctx.channel();
        boolean wrote = false;
        while (sent < total && ch.isWritable()) {
            int n = (int) Math.min(CHUNK, total - sent);
            int off = (int) ((sent / CHUNK * 7919 + seed * 131L) % (BLOCK.length - CHUNK));
            crcOut.update(BLOCK, off, n);
            ctx.write(Unpooled.wrappedBuffer(BLOCK, off, n));
            sent += n;
            wrote = true;
        }
        if (wrote) {
            ctx.flush();
        }
        if (sent == total && !ended) {
            ended = true;
            HboneStream.shutdownOutput(ch);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            pump();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf b = (ByteBuf) msg;
        try {
            received += b.readableBytes();
            crcIn.update(b.nioBuffer());
        } finally {
            b.release();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            done.complete(new Result(sent, crcOut.getValue(), received, crcIn.getValue()));
        } else if (evt instanceof HboneStream.Reset r) {
            done.completeExceptionally(new AssertionError("stream reset " + r.errorCode()));
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        done.completeExceptionally(new AssertionError("stream closed before END_STREAM after " + received + " bytes"));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        done.completeExceptionally(cause);
        ctx.close();
    }
}
