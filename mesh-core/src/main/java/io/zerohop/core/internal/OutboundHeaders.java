package io.zerohop.core.internal;

import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The request headers ztunnel puts on every outbound CONNECT (src/proxy/outbound.rs): {@code baggage}
 * with the source workload's metadata ({@link Baggage}), a fresh {@code traceparent}, and
 * {@code forwarded} naming the original client ({@code build_forwarded}). Headers the caller already
 * set win. The receiving side shows them, never decides with them.
 */
public final class OutboundHeaders {
    private OutboundHeaders() {}

    /**
     * {@code headers} plus the defaults it lacks.
     *
     * @param baggage the source workload's baggage, or null when the source is not a registry workload
     * @param client  the original client (a captured app), or null when this process is the client
     * @param host    the destination service's host name, or null for a workload destination
     */
    public static Map<String, String> withDefaults(Map<String, String> headers, Baggage baggage,
                                                   InetSocketAddress client, String host) {
        Map<String, String> h = new HashMap<>(headers);
        if (baggage != null) {
            String v = baggage.header();
            if (!v.isEmpty()) {
                h.putIfAbsent("baggage", v);
            }
        }
        h.putIfAbsent("traceparent", traceparent());
        if (client != null) {
            h.putIfAbsent("forwarded", forwarded(client, host));
        }
        return h;
    }

    /**
     * RFC 7239 as ztunnel's {@code build_forwarded}: {@code for="ip:port"} (IPv6 in brackets), and
     * {@code ;host=NAME} for a service destination.
     */
    public static String forwarded(InetSocketAddress client, String host) {
        // RFC 5952 text (::1, not 0:0:0:0:0:0:0:1), as Rust prints a SocketAddr.
        String ip = io.netty.util.NetUtil.toAddressString(client.getAddress());
        String node = (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + client.getPort();
        String f = "for=\"" + node + "\"";
        return host == null ? f : f + ";host=" + host;
    }

    /**
     * A W3C {@code traceparent} as ztunnel's {@code TraceParent::new}: version 00, a random 128-bit
     * trace id, a random 64-bit parent id, flags 00 (not sampled). All-zero ids are invalid in the
     * W3C format and never produced.
     */
    public static String traceparent() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        long hi, lo, parent;
        do {
            hi = r.nextLong();
            lo = r.nextLong();
        } while (hi == 0 && lo == 0);
        do {
            parent = r.nextLong();
        } while (parent == 0);
        HexFormat hex = HexFormat.of();
        return "00-" + hex.toHexDigits(hi) + hex.toHexDigits(lo) + "-" + hex.toHexDigits(parent) + "-00";
    }
}
