package io.zerohop.core.internal;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.resolver.ResolvedAddressTypes;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.SequentialDnsServerAddressStreamProvider;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The lookup of a workload's hostname when a connection is sent to it, as ztunnel's {@code resolve_on_demand_dns}
 * (istio/ztunnel src/state.rs): A and AAAA records both asked for (ztunnel's {@code LookupIpStrategy::Ipv4AndIpv6}),
 * one address picked at random among those of the family of the address the connection was sent to, else at random
 * among the others. A failed lookup is ztunnel's {@code NoResolvedAddresses}, a response without addresses its
 * {@code EmptyResolvedAddresses}: the caller refuses the connection.
 *
 * <p>Why Netty's resolver ({@code netty-resolver-dns}): it never blocks the event loop that asks, where
 * {@link InetAddress#getAllByName} blocks its caller for the whole lookup (seconds when a server does not answer). It
 * reads the servers, search domains and {@code ndots} of the system's {@code /etc/resolv.conf} by default, and
 * {@code /etc/hosts}, as ztunnel's hickory {@code read_system_conf}; answers are cached for their TTL (ztunnel: a cache
 * of 4096 names). {@code servers} set ({@code Mesh.Builder.dnsServers}) replaces resolv.conf's servers only.
 *
 * <p>The resolver is made on first use, so a mesh whose registry has no hostname opens no UDP socket.
 */
public final class OnDemandDns {
    private final EventLoopGroup group;
    private final List<InetSocketAddress> servers;
    private DnsNameResolver resolver;
    private boolean closed;

    /** @param servers the DNS servers to ask, in order; null or empty: resolv.conf's */
    public OnDemandDns(EventLoopGroup group, List<InetSocketAddress> servers) {
        this.group = group;
        this.servers = servers == null || servers.isEmpty() ? null : List.copyOf(servers);
    }

    /** What a lookup failed with: its message names the hostname and the error, ztunnel's text first. */
    public static final class LookupFailed extends RuntimeException {
        public LookupFailed(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * One address of {@code hostname}, of {@code original}'s family when it has one (ztunnel: "prefer to match the IP
     * family of the downstream request"); fails with {@link LookupFailed}. Completes on the resolver's event loop.
     *
     * @param workload what ztunnel's errors name (its uid there; here namespace/name)
     */
    public CompletableFuture<InetAddress> resolve(String hostname, InetAddress original, String workload) {
        CompletableFuture<InetAddress> out = new CompletableFuture<>();
        DnsNameResolver r;
        try {
            r = resolver();
        } catch (RuntimeException e) {
            out.completeExceptionally(new LookupFailed("no ip addresses were resolved for workload: " + workload
                    + " (hostname " + hostname + ": " + e.getMessage() + ")"));
            return out;
        }
        r.resolveAll(hostname).addListener(f -> {
            if (!f.isSuccess()) {
                out.completeExceptionally(new LookupFailed("no ip addresses were resolved for workload: " + workload
                        + " (hostname " + hostname + ": DNS lookup failed: " + describe(f.cause()) + ")"));
                return;
            }
            @SuppressWarnings("unchecked")
            List<InetAddress> all = (List<InetAddress>) f.getNow();
            InetAddress picked = pick(all, original instanceof Inet6Address);
            if (picked == null) {
                out.completeExceptionally(new LookupFailed("ip addresses were resolved for workload " + workload
                        + ", but valid dns response had no A/AAAA records (hostname " + hostname + ")"));
                return;
            }
            out.complete(picked);
        });
        return out;
    }

    /** At random among {@code all}'s addresses of the family asked for, else among the others; null when none. */
    static InetAddress pick(List<InetAddress> all, boolean v6) {
        List<InetAddress> matching = new ArrayList<>(all.size());
        for (InetAddress a : all) {
            if ((a instanceof Inet6Address) == v6) {
                matching.add(a);
            }
        }
        List<InetAddress> from = matching.isEmpty() ? all : matching;
        return from.isEmpty() ? null : from.get(ThreadLocalRandom.current().nextInt(from.size()));
    }

    /** Netty's message ("Failed to resolve 'h' [A(1), AAAA(28)] after 2 queries"), with the server's response code. */
    private static String describe(Throwable e) {
        StringBuilder b = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            if (c.getMessage() != null) {
                b.append(": ").append(c.getMessage());
            }
        }
        return b.toString();
    }

    private synchronized DnsNameResolver resolver() {
        if (closed) {
            throw new IllegalStateException("the mesh is closed");
        }
        if (resolver == null) {
            boolean epoll = group instanceof IoEventLoopGroup g && g.isIoType(EpollIoHandler.class);
            DnsNameResolverBuilder b = new DnsNameResolverBuilder(group.next())
                    .datagramChannelType(epoll ? EpollDatagramChannel.class : NioDatagramChannel.class)
                    .resolvedAddressTypes(ResolvedAddressTypes.IPV4_PREFERRED);
            if (servers != null) {
                b.nameServerProvider(new SequentialDnsServerAddressStreamProvider(servers.toArray(InetSocketAddress[]::new)));
            }
            resolver = b.build();
        }
        return resolver;
    }

    /** Closes the resolver's socket, if one was made; later lookups fail. */
    public synchronized void close() {
        closed = true;
        if (resolver != null) {
            resolver.close();
        }
    }
}
