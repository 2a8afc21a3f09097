package io.zerohop.hbone;

import java.net.InetSocketAddress;
import java.util.Objects;

/**
 * How the server delivers an accepted CONNECT stream, as decided by a {@link DestinationResolver}:
 * spliced to a TCP upstream ({@link Proxy}), handed to in-process code ({@link Embedded}), or
 * refused ({@link Refused}).
 */
public sealed interface Destination {

    /** Connect to {@code upstream} over TCP and splice bytes both ways (ztunnel's behaviour). */
    static Destination proxy(InetSocketAddress upstream) {
        return new Proxy(upstream, null);
    }

    /**
     * {@link #proxy(InetSocketAddress)}, with a {@code baggage} header on the 200: the destination workload's metadata,
     * as ztunnel answers ({@code build_response} in istio/ztunnel src/proxy/inbound.rs, under {@code ENABLE_RESPONSE_BAGGAGE},
     * on by default), which a ztunnel client reads for its metrics' destination labels on a double-HBONE path.
     *
     * @param responseBaggage the header's value; null or empty: no header
     */
    static Destination proxy(InetSocketAddress upstream, String responseBaggage) {
        return new Proxy(upstream, responseBaggage);
    }

    /** Hand the stream to in-process code. */
    static Destination embedded(StreamHandler handler) {
        return new Embedded(handler, null);
    }

    /** {@link #embedded(StreamHandler)}, with a {@code baggage} header on the 200, as {@link #proxy(InetSocketAddress, String)}. */
    static Destination embedded(StreamHandler handler, String responseBaggage) {
        return new Embedded(handler, responseBaggage);
    }

    /** Not served by this listener: refused with 400 (ztunnel refuses a destination it does not own with 400). */
    static Destination notServed() {
        return Refused.NOT_SERVED;
    }

    /** Refused with a specific status (4xx/5xx) and a reason for the log. */
    static Destination refuse(int status, String reason) {
        return new Refused(status, reason);
    }

    /** @param responseBaggage the 200's {@code baggage} header, or null for none ({@link #proxy(InetSocketAddress, String)}) */
    record Proxy(InetSocketAddress upstream, String responseBaggage) implements Destination {
        public Proxy {
            Objects.requireNonNull(upstream, "upstream");
            if (upstream.isUnresolved()) {
                throw new IllegalArgumentException("upstream must be a resolved address, got " + upstream);
            }
            responseBaggage = responseBaggage == null || responseBaggage.isEmpty() ? null : responseBaggage;
        }

        /** No header on the 200. */
        public Proxy(InetSocketAddress upstream) {
            this(upstream, null);
        }
    }

    /** @param responseBaggage the 200's {@code baggage} header, or null for none */
    record Embedded(StreamHandler handler, String responseBaggage) implements Destination {
        public Embedded {
            Objects.requireNonNull(handler, "stream handler");
            responseBaggage = responseBaggage == null || responseBaggage.isEmpty() ? null : responseBaggage;
        }

        /** No header on the 200. */
        public Embedded(StreamHandler handler) {
            this(handler, null);
        }
    }

    record Refused(int status, String reason) implements Destination {
        static final Refused NOT_SERVED = new Refused(400, "destination not served by this listener");

        public Refused {
            if (status < 400 || status > 599) {
                throw new IllegalArgumentException("refusal status must be 4xx or 5xx, got " + status);
            }
            Objects.requireNonNull(reason, "reason");
        }
    }
}
