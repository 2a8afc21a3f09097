package io.zerohop.cli;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The demo's HTTP client: Netty's HTTP/1.1 client codec on one HBONE tunnel. Requests go out one
 * at a time, each response is awaited (with a timeout) before the next request.
 */
final class DemoHttpTunnel extends SimpleChannelInboundHandler<FullHttpResponse> implements AutoCloseable {
    /** A response: status code and body (UTF-8). */
    record Response(int status, String body) {}

    private final HboneStream stream;
    private volatile CompletableFuture<Response> pending;

    private DemoHttpTunnel(HboneStream stream) {
        this.stream = stream;
    }

    static DemoHttpTunnel open(Mesh mesh, SpiffeId source, InetSocketAddress target) throws Exception {
        HboneStream s = mesh.connect(source, target).get(DemoCommand.TIMEOUT_S, TimeUnit.SECONDS);
        DemoHttpTunnel t = new DemoHttpTunnel(s);
        // attach, not pipeline().addLast: a tunnel that ended right after its 200 still reaches t.
        s.attach(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), t);
        s.channel().config().setAutoRead(true);
        return t;
    }

    Response send(String method, String path, byte[] body) throws Exception {
        CompletableFuture<Response> f = new CompletableFuture<>();
        pending = f;
        FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method), path,
                Unpooled.wrappedBuffer(body));
        req.headers().set(HttpHeaderNames.HOST, "checkout:" + DemoCommand.CHECKOUT_PORT);
        req.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        req.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        stream.channel().writeAndFlush(req).addListener(w -> {
            if (!w.isSuccess()) {
                f.completeExceptionally(w.cause());
            }
        });
        try {
            return f.get(DemoCommand.TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        } catch (TimeoutException e) {
            throw new TimeoutException("no HTTP response within " + DemoCommand.TIMEOUT_S + " s");
        }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse msg) {
        CompletableFuture<Response> f = pending;
        if (f != null) {
            f.complete(new Response(msg.status().code(), msg.content().toString(StandardCharsets.UTF_8)));
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent || evt instanceof HboneStream.Reset) {
            fail(new IOException(evt instanceof HboneStream.Reset r ? "tunnel reset (error " + r.errorCode() + ")" : "tunnel closed by checkout"));
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        fail(new IOException("tunnel closed"));
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        fail(cause);
        ctx.close();
    }

    private void fail(Throwable t) {
        CompletableFuture<Response> f = pending;
        if (f != null) {
            f.completeExceptionally(t);
        }
    }

    @Override
    public void close() {
        stream.close();
    }
}
