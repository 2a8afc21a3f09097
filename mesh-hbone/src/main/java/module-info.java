/**
 * HBONE (HTTP/2 CONNECT in mutual TLS, as ztunnel speaks it) for zerohop: pooled client,
 * server, and Netty channel / {@code Socket} adapters for tunnels. The API is
 * {@link io.zerohop.hbone}; {@code io.zerohop.hbone.internal} is not exported.
 */
module io.zerohop.hbone {
    requires transitive io.zerohop.identity;
    // Tunnels are Netty channels; servers and clients take Netty event-loop and SSL types.
    requires transitive io.netty.transport;
    requires io.netty.buffer;
    requires io.netty.codec;
    requires io.netty.codec.http;
    requires io.netty.codec.http2;
    requires io.netty.common;
    requires io.netty.transport.classes.epoll;
    requires io.netty.transport.unix.common;
    requires org.slf4j;

    exports io.zerohop.hbone;
    // mesh-core uses the one Relay (and Hold) for its capture, passthrough and plaintext paths, and
    // its /config_dump reads pool state through Inspect (grpc-java's Internal* accessor pattern):
    // shared machinery and an admin hook, deliberately not public API.
    exports io.zerohop.hbone.internal to io.zerohop.core;
}
