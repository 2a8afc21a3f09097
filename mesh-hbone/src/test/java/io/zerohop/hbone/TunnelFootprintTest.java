package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.netty.ClassHistogram;
import io.zerohop.testing.netty.EchoServer;
import org.assertj.core.api.SoftAssertions;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * What an open, idle proxy-mode tunnel holds (issue 14: <= 100 MB RSS with 10,000 tunnels; at
 * 4-5 KB of heap per tunnel per proxy that target is missed, benchmarks/results/tunnels-*.md). The
 * JVM's own class histogram (the {@code GC.class_histogram} diagnostic command, after a full GC)
 * before and after {@value #TUNNELS} tunnels opened through an HBONE server in proxy mode to an
 * echo app, each proven by a 1-byte echo; client, server and app share this JVM, so the counts per
 * tunnel are of all three. Own mechanics, no upstream to cite.
 */
class TunnelFootprintTest {
    static final int TUNNELS = 200;
    static Mesh mesh;
    static EchoServer echo;
    static HboneServer server;
    static HboneClient client;
    static final RecordingEvents events = new RecordingEvents();
    static String lastTable;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = mesh.server((dst, id, local) -> Destination.proxy(echo.address())).listener(events)
                .build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
        echo.close();
        mesh.close();
    }

    static HboneSocket open() throws IOException {
        HboneSocket s = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(20));
        s.setSoTimeout(20_000);
        s.getOutputStream().write('x');
        assertThat(s.getInputStream().read()).isEqualTo('x');
        return s;
    }

    @Test
    @DisplayName("an idle proxied tunnel holds no timer of its own, no placeholder handler, no finished dial's listener, no lambda, atomic or allocator of its own, one object per read handle")
    void anIdleProxiedTunnelHoldsOnlyWhatItUses() throws Exception {
        List<HboneSocket> sockets = new ArrayList<>();
        try {
            sockets.add(open()); // the pooled connection, its handshake, the classes
            ClassHistogram before = ClassHistogram.baseline();
            for (int i = 0; i < TUNNELS; i++) {
                sockets.add(open());
            }
            Map<String, ClassHistogram.Share> shares = ClassHistogram.take().perThing(before, TUNNELS);
            Map<String, Double> perTunnel = new TreeMap<>();
            shares.forEach((k, v) -> perTunnel.put(k, v.instances()));
            String table = ClassHistogram.table(shares);
            lastTable = table;
            // Was 1 each: the stalled-window timer (armed by the first upstream byte, kept 60 s) and
            // the epoll channel's connect-timeout task (Netty keeps the cancelled task).
            SoftAssertions soft = new SoftAssertions();
            soft.assertThat(perTunnel.getOrDefault("io.netty.util.concurrent.ScheduledFutureTask", 0.0))
                    .as("scheduled tasks per tunnel; all per tunnel:\n%s", table).isLessThan(1.5);
            // Was 1: the upstream bootstrap's no-op handler stayed in every upstream pipeline.
            soft.assertThat(perTunnel.getOrDefault("io.netty.channel.ChannelInboundHandlerAdapter", 0.0))
                    .as("placeholder handlers per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            // Was 1: the stream's close listener that abandons an unfinished dial, with the dial's promise.
            soft.assertThat(perTunnel.getOrDefault("io.zerohop.hbone.internal.InboundTunnel$$Lambda", 0.0))
                    .as("InboundTunnel lambdas per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            // Was 1 each: the budget's close listener and the relay side's recheck, both lambdas.
            soft.assertThat(perTunnel.getOrDefault("io.zerohop.hbone.internal.TunnelBudget$$Lambda", 0.0))
                    .as("TunnelBudget lambdas per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            soft.assertThat(perTunnel.getOrDefault("io.zerohop.hbone.internal.Relay$Side$$Lambda", 0.0))
                    .as("relay side lambdas per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            // Was 3.3 (an entry in the server-wide and one in the per-peer budget set, and others),
            // 1.9-2.1 with the peer's set alone.
            soft.assertThat(perTunnel.getOrDefault("java.util.concurrent.ConcurrentHashMap$Node", 0.0))
                    .as("budget set entries per tunnel; all per tunnel:\n%s", table).isLessThan(2.6);
            // Was 3 (the upstream channel's and both stream channels' own allocator): shared now; the
            // one left is the echo app's NIO channel.
            soft.assertThat(perTunnel.getOrDefault("io.netty.channel.AdaptiveRecvByteBufAllocator", 0.0))
                    .as("receive allocators per tunnel; all per tunnel:\n%s", table).isLessThan(1.5);
            // Was 10 (each stream channel's fixed-size handle and its "maybe more" supplier, each TCP
            // channel's adaptive handle, supplier and size calculator): the tunnel's channels keep one
            // TunnelReads handle each; the 3 left are the echo app's NIO channel's.
            soft.assertThat(perTunnel.getOrDefault("io.netty.channel.FixedRecvByteBufAllocator$HandleImpl", 0.0)
                    + perTunnel.getOrDefault("io.netty.channel.AdaptiveRecvByteBufAllocator$HandleImpl", 0.0)
                    + perTunnel.getOrDefault("io.netty.util.internal.AdaptiveCalculator", 0.0)
                    + perTunnel.getOrDefault("io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator$MaxMessageHandle$1", 0.0))
                    .as("Netty read-handle objects per tunnel; all per tunnel:\n%s", table).isLessThan(3.5);
            // Was 192 (the relay 40, its two sides 56 each, a TCP end 16 and a tunnel end 24): the ends
            // built by Relay.tcp/tunnel are their own sides now and a side keeps no channels, no other
            // side and no throttle of its own (104: the relay 32, the TCP end 32, the tunnel end 40).
            double relayBytes = shares.entrySet().stream()
                    .filter(e -> e.getKey().equals("io.zerohop.hbone.internal.Relay")
                            || e.getKey().startsWith("io.zerohop.hbone.internal.Relay$") && !e.getKey().contains("$$Lambda"))
                    .mapToDouble(e -> e.getValue().bytes()).sum();
            soft.assertThat(relayBytes).as("relay bytes per tunnel; all per tunnel:\n%s", table).isLessThan(120);
            // Was 72: the tunnel kept its listener and the listener's config, both reachable through its connection.
            ClassHistogram.Share inbound = shares.get("io.zerohop.hbone.internal.InboundTunnel");
            soft.assertThat(inbound == null ? 0 : inbound.bytes())
                    .as("InboundTunnel bytes per tunnel; all per tunnel:\n%s", table).isLessThan(70);
            // Was 72: the client half kept its config and its stream channel, which its connection and its codec keep.
            ClassHistogram.Share outbound = shares.get("io.zerohop.hbone.internal.OutboundTunnel");
            soft.assertThat(outbound == null ? 0 : outbound.bytes())
                    .as("OutboundTunnel bytes per tunnel; all per tunnel:\n%s", table).isLessThan(70);
            // Was 5 each (the upstream channel's local and remote, the echo app's two, the client's): the
            // upstream channel keeps the dial address itself as its remote address, and its local
            // address shares its IP address object with the other upstreams' (4 and 3 left).
            soft.assertThat(perTunnel.getOrDefault("java.net.InetSocketAddress", 0.0)
                    + perTunnel.getOrDefault("java.net.Inet4Address", 0.0) + perTunnel.getOrDefault("java.net.Inet6Address", 0.0))
                    .as("socket addresses and IP addresses per tunnel; all per tunnel:\n%s", table).isLessThan(7.6);
            // Was 2 (client and server stream): the weighted-fair distributor's per-stream state and
            // its priority queue, ~110 bytes; the uniform distributor's is ~32.
            soft.assertThat(perTunnel.getOrDefault("io.netty.handler.codec.http2.WeightedFairQueueByteDistributor$State", 0.0)
                    + perTunnel.getOrDefault("io.netty.util.internal.DefaultPriorityQueue", 0.0))
                    .as("priority-tree stream states per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            // Was 96 bytes each (two per tunnel: the client's stream and the server's): nine booleans, now one short of flags.
            ClassHistogram.Share codec = shares.get("io.zerohop.hbone.internal.TunnelCodec");
            soft.assertThat(codec == null || codec.instances() == 0 ? 0 : codec.bytes() / codec.instances())
                    .as("bytes per TunnelCodec; all per tunnel:\n%s", table).isLessThanOrEqualTo(88);
            // Was 4: the relay's two flags and its EOF count, and one of the in-JVM client socket's.
            soft.assertThat(perTunnel.getOrDefault("java.util.concurrent.atomic.AtomicBoolean", 0.0)
                    + perTunnel.getOrDefault("java.util.concurrent.atomic.AtomicInteger", 0.0))
                    .as("atomics per tunnel; all per tunnel:\n%s", table).isLessThan(1.5);
            soft.assertAll();
        } finally {
            for (HboneSocket s : sockets) {
                s.close();
            }
        }
        // Every tunnel named the same :authority: one InetSocketAddress for all the tunnels of a
        // connection (the pool spreads them over connections of 100 streams).
        List<TunnelInfo> opened = new ArrayList<>(events.opened);
        assertThat(opened).hasSize(TUNNELS + 1);
        Map<InetSocketAddress, List<TunnelInfo>> byConnection = opened.stream()
                .collect(java.util.stream.Collectors.groupingBy(TunnelInfo::peerAddress));
        assertThat(byConnection).hasSizeLessThan(TUNNELS / 10);
        byConnection.values().forEach(tunnels -> assertThat(tunnels)
                .allSatisfy(t -> assertThat(t.destination()).isSameAs(tunnels.get(0).destination())));
        System.out.println("per tunnel (client, server and app in one JVM):\n" + lastTable);
    }
}
