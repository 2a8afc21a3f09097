package io.zerohop.core.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The proxy's own ports, ztunnel's {@code illegal_ports} (src/config.rs): 15008, 15006, 15001 and
 * 15080 always, plus every port a listener of this mesh bound and what the embedder declares (admin,
 * metrics, readiness). Inbound, a CONNECT to one is a self call answered 503; outbound and plaintext
 * inbound, a connection to one is dropped. Thread-safe.
 */
public final class OwnPorts {
    private final Set<Integer> ports = ConcurrentHashMap.newKeySet();

    public OwnPorts() {
        ports.addAll(Set.of(15008, 15006, 15001, 15080));
    }

    /** @throws IllegalArgumentException when {@code port} is not 1-65535 */
    public void add(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port must be 1-65535, got " + port);
        }
        ports.add(port);
    }

    public boolean contains(int port) {
        return ports.contains(port);
    }

    /** The ports right now, immutable. */
    public Set<Integer> snapshot() {
        return Set.copyOf(ports);
    }
}
