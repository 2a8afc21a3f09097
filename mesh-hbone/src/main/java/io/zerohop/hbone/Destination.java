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
        return new Proxy(upstream);
    }

    /** Hand the stream to in-process code. */
    static Destination embedded(StreamHandler handler) {
        return new Embedded(handler);
    }

    /** Not served by this listener: refused with 400 (ztunnel refuses a destination it does not own with 400). */
    static Destination notServed() {
        return Refused.NOT_SERVED;
    }

    /** Refused with a specific status (4xx/5xx) and a reason for the log. */
    static Destination refuse(int status, String reason) {
        return new Refused(status, reason);
    }

    record Proxy(InetSocketAddress upstream) implements Destination {
        public Proxy {
            Objects.requireNonNull(upstream, "upstream");
            if (upstream.isUnresolved()) {
                throw new IllegalArgumentException("upstream must be a resolved address, got " + upstream);
            }
        }
    }

    record Embedded(StreamHandler handler) implements Destination {
        public Embedded {
            Objects.requireNonNull(handler, "stream handler");
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
