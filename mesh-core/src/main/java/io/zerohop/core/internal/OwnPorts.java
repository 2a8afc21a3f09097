package io.zerohop.core.internal;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * The proxy's own ports, ztunnel's {@code illegal_ports} (src/config.rs: the ports of its 15008,
 * 15006 and 15001 listeners and the SOCKS5 one, 15080): those four always, the port of every
 * listener this mesh bound on a port it was given, and what the embedder declares (admin, metrics,
 * readiness). Inbound, a CONNECT to one is a self call answered 503; outbound and plaintext inbound,
 * a connection to one is dropped. Thread-safe.
 *
 * <p>A listener bound on port 0 is different: the kernel chose its number, which any application
 * may also have on another address of this host (two sockets, 127.0.0.1:P and 127.0.0.2:P, are
 * not the same). ztunnel leaves such late-bound ports out of {@code illegal_ports} altogether
 * (src/test_helpers.rs: "since the ports are late-bound, we can't test illegal ports"); we keep them
 * by their bound address instead, so that a connection to the listener itself is still a self call
 * and one to an application that happens to share the number is not. A transparent listener takes
 * connections for any address, so it counts by port whatever it was given.
 */
public final class OwnPorts {
    private final Set<Integer> ports = ConcurrentHashMap.newKeySet();
    /** Late-bound listeners: bound port to the addresses bound on it. */
    private final ConcurrentHashMap<Integer, Set<InetAddress>> lateBound = new ConcurrentHashMap<>();
    /** What claimed a port of {@link #ports}: the first listener bound on it; absent for the fixed and declared ones. */
    private final ConcurrentHashMap<Integer, InetSocketAddress> listenerOf = new ConcurrentHashMap<>();

    public OwnPorts() {
        ports.addAll(Set.of(15008, 15006, 15001, 15080));
    }

    /**
     * Why {@code port} is one of the proxy's own, for a self call's refusal: a new-user pass read "one of this
     * proxy's own ports" for an application port that a {@code --forward} listener on another address had
     * claimed, and nothing said which. Never null.
     */
    public String owner(int port) {
        InetSocketAddress l = listenerOf.get(port);
        if (l != null) {
            return "this proxy's listener on " + io.zerohop.hbone.internal.Authority.text(l) + " claims port " + port
                    + " on every address, as ztunnel's illegal_ports do";
        }
        if (Set.of(15008, 15006, 15001, 15080).contains(port)) {
            return "one of ztunnel's fixed ports, 15008, 15006, 15001 and 15080";
        }
        return ports.contains(port) ? "declared by the embedder (Mesh.addOwnPort)" : "a listener of this proxy on that address";
    }

    /**
     * Declares a port of the proxy's own, whatever the address (ztunnel's {@code illegal_ports}).
     *
     * @throws IllegalArgumentException when {@code port} is not 1-65535
     */
    public void add(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port must be 1-65535, got " + port);
        }
        ports.add(port);
    }

    /** {@link #addListener(InetSocketAddress, InetSocketAddress, boolean, boolean)} of a listener on a port of the proxy's own. */
    public void addListener(InetSocketAddress requested, InetSocketAddress bound, boolean transparent) {
        addListener(requested, bound, transparent, false);
    }

    /**
     * A listener this mesh bound: asked for {@code requested}, got {@code bound}. It joins by port
     * when it was given one or is {@code transparent}, else (or with {@code addressOnly}, for a listener on a port that
     * belongs to an application: a plaintext inbound on a workload's own ip:port) by its bound address only.
     */
    public void addListener(InetSocketAddress requested, InetSocketAddress bound, boolean transparent, boolean addressOnly) {
        if (transparent || (requested.getPort() != 0 && !addressOnly)) {
            add(bound.getPort());
            listenerOf.putIfAbsent(bound.getPort(), bound);
        } else {
            lateBound.computeIfAbsent(bound.getPort(), p -> ConcurrentHashMap.newKeySet()).add(bound.getAddress());
        }
    }

    /**
     * Whether a connection to {@code dst} reaches the proxy itself: its port is one of {@link #add}'s,
     * or a late-bound listener's at {@code dst}'s address (a wildcard-bound one at any address
     * {@code hostHas}; {@code dst} on the wildcard reaches any listener of the port).
     */
    public boolean isSelf(InetSocketAddress dst, Predicate<InetAddress> hostHas) {
        int port = dst.getPort();
        if (ports.contains(port)) {
            return true;
        }
        Set<InetAddress> at = lateBound.get(port);
        if (at == null) {
            return false;
        }
        InetAddress a = dst.getAddress();
        if (a == null || a.isAnyLocalAddress() || at.contains(a)) {
            return true;
        }
        for (InetAddress l : at) {
            if (l.isAnyLocalAddress() && hostHas.test(a)) {
                return true;
            }
        }
        return false;
    }

    /** Every port right now, both kinds, immutable and sorted. */
    public Set<Integer> snapshot() {
        Set<Integer> all = new TreeSet<>(ports);
        all.addAll(lateBound.keySet());
        return Collections.unmodifiableSet(all);
    }
}
