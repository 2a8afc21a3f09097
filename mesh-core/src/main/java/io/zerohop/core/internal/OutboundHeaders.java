package io.zerohop.core.internal;

import java.net.InetSocketAddress;
import io.zerohop.hbone.internal.HeaderMap;
import java.util.Map;

/**
 * The request headers ztunnel puts on every outbound CONNECT (src/proxy/outbound.rs): {@code baggage}
 * with the source workload's metadata ({@link Baggage}), a fresh {@code traceparent}, and
 * {@code forwarded} naming the original client and the Service dialled ({@code build_forwarded}). Headers the caller
 * already set win. The receiving side shows them, never decides with them.
 */
public final class OutboundHeaders {
    private OutboundHeaders() {}

    /**
     * The names of the defaults alone (a route without headers of its own), shared by every tunnel:
     * index bit 0 baggage, bit 1 forwarded.
     */
    private static final String[][] DEFAULT_NAMES = {
        {"traceparent"}, {"baggage", "traceparent"}, {"traceparent", "forwarded"}, {"baggage", "traceparent", "forwarded"}};

    /**
     * {@code headers} plus the defaults it lacks, as a compact immutable map ({@link HeaderMap}): the
     * fresh {@code traceparent} is kept as its numbers and {@code forwarded} as the client's address
     * (the captured connection's own), each rendered when read, so an open tunnel holds no string of
     * its own for them (issue 14). Names in order: the caller's, then baggage, traceparent, forwarded.
     *
     * @param baggage the source workload's baggage, or null when the source is not a registry workload
     * @param client  the original client (a captured app), or null when this process is the client
     * @param host    the destination service's host name, or null for a workload destination; with no
     *                {@code client} it alone makes the {@code forwarded} ({@link #forwarded})
     */
    public static Map<String, String> withDefaults(Map<String, String> headers, Baggage baggage,
                                                   InetSocketAddress client, String host) {
        String b = baggage == null ? "" : baggage.header();
        boolean addBaggage = !b.isEmpty() && !headers.containsKey("baggage");
        boolean addTraceparent = !headers.containsKey("traceparent");
        boolean addForwarded = (client != null || host != null) && !headers.containsKey("forwarded");
        int n = headers.size() + (addBaggage ? 1 : 0) + (addTraceparent ? 1 : 0) + (addForwarded ? 1 : 0);
        String[] names = headers.isEmpty() ? DEFAULT_NAMES[(addBaggage ? 1 : 0) | (addForwarded ? 2 : 0)] : new String[n];
        Object[] values = new Object[n];
        int i = 0;
        for (Map.Entry<String, String> e : headers.entrySet()) {
            names[i] = e.getKey();
            values[i++] = e.getValue();
        }
        if (addBaggage) {
            names[i] = "baggage";
            values[i++] = b;
        }
        if (addTraceparent) {
            names[i] = "traceparent";
            values[i++] = HeaderMap.Traceparent.random();
        }
        if (addForwarded) {
            names[i] = "forwarded";
            values[i] = new Forwarded(client, host);
        }
        return HeaderMap.of(names, values);
    }

    /** A {@code forwarded} value kept as what it is made of; {@link #toString()} is the value. */
    private record Forwarded(InetSocketAddress client, String host) {
        @Override
        public String toString() {
            return forwarded(client, host);
        }
    }

    /**
     * RFC 7239 as ztunnel's {@code build_forwarded} (istio/ztunnel src/proxy/outbound.rs): {@code for="ip:port"}
     * (IPv6 in brackets), and {@code ;host=NAME} for a service destination. With no {@code client} (the embedded API:
     * this process is the client, which ztunnel, always a proxy, never is) {@code host=NAME} alone, or null with no
     * {@code host} either: the destination's {@code guess_inbound_service} needs the Service dialled to tell apart
     * Services that target one port ({@code parse_forwarded_host} takes {@code host=} from any element position), and
     * a {@code for=} naming this process's own address would tell it nothing its TCP peer does not.
     */
    public static String forwarded(InetSocketAddress client, String host) {
        if (client == null) {
            return host == null ? null : "host=" + host;
        }
        // RFC 5952 text (::1, not 0:0:0:0:0:0:0:1), as Rust prints a SocketAddr.
        String ip = io.netty.util.NetUtil.toAddressString(client.getAddress());
        String node = (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + client.getPort();
        String f = "for=\"" + node + "\"";
        return host == null ? f : f + ";host=" + host;
    }

    /**
     * A W3C {@code traceparent} as ztunnel's {@code TraceParent::new}: version 00, a random 128-bit
     * trace id, a random 64-bit parent id, flags 00 (not sampled) ({@link HeaderMap.Traceparent#random}).
     */
    public static String traceparent() {
        return HeaderMap.Traceparent.random().toString();
    }
}
