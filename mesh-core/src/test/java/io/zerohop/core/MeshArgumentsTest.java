package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass of the Java API: settings and arguments that were accepted and failed later, far from the call (an
 * {@link ArithmeticException} from {@code close()}, {@code build()} or {@code connect}, a JDK exception about an
 * internal variable), or that silently did the wrong thing, are refused where they are given, naming what is wrong.
 */
class MeshArgumentsTest {
    private static final InMemoryCa CA = InMemoryCa.create("cluster.local");
    private static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");

    /**
     * drain(FOREVER): close() threw "long overflow" and left the listener accepting; metricsInterval past ~292 years: build()
     * threw it; idleTimeout(365000 days): connect threw it. Each setter now refuses what cannot be held, naming the maximum.
     */
    @Test
    void durationsLongerThanTheMaximumAreRefusedNamingTheSetterAndTheMaximum() {
        Duration forever = ChronoUnit.FOREVER.getDuration();
        assertThatThrownBy(() -> Mesh.builder().drain(forever)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("drain must be at most 36500d (100 years), got 9223372036854775807s");
        assertThatThrownBy(() -> Mesh.builder().idleTimeout(Duration.ofDays(365_000))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("idleTimeout must be at most 36500d (100 years), got 365000d");
        assertThatThrownBy(() -> Mesh.builder().metricsInterval(Duration.ofSeconds(Long.MAX_VALUE / 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("metricsInterval must be at most 36500d (100 years), got ");
        assertThatThrownBy(() -> Mesh.builder().drain(Duration.ofDays(36_501))).hasMessageStartingWith("drain must be at most");
        // Below the limits, zero and negatives keep their own messages.
        assertThatThrownBy(() -> Mesh.builder().drain(Duration.ofSeconds(Long.MIN_VALUE))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("drain must not be negative, got ");
        assertThatThrownBy(() -> Mesh.builder().idleTimeout(Duration.ofMillis(-1))).hasMessage("idleTimeout must not be negative, got -1ms");
        Mesh.builder().idleTimeout(Duration.ZERO); // "never", as HboneClient's (ClientRetireTest)
    }

    /** The maximum itself works end to end: built with a meter registry (the metrics timer), then closed. */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void theMaximumDurationsBuildAndClose() throws Exception {
        Duration max = Duration.ofDays(36_500);
        Mesh m = Mesh.builder().identityProvider(CA).identity(BACKEND).threads(1).drain(max).idleTimeout(max).metricsInterval(max)
                .meterRegistry(new SimpleMeterRegistry()).inbound(new InetSocketAddress("127.0.0.1", 0)).build();
        m.start().get(10, TimeUnit.SECONDS);
        // Nothing open: the drain ends at once. A close that waited for the 100-year drain hangs, which the timeout ends
        // (a hang guard, not a timing assertion; a test audit, helper 268).
        m.close();
    }

    /**
     * metricsInterval's ArithmeticException came after the event loop group was made, which nothing closed: 50 failed
     * builds left 50 loop threads. Any exception part-way through build() now releases what it made; here a meter
     * filter of the caller's registry that throws when the mesh registers its gauges, after the loops started.
     */
    @Test
    void aBuildThatFailsPartWayLeavesNoThread() throws Exception {
        Set<String> before = meshThreads();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        registry.config().meterFilter(new MeterFilter() {
            @Override
            public Meter.Id map(Meter.Id id) {
                if (id.getName().equals("istio.tcp.sockets.open")) {
                    throw new IllegalStateException("filter refuses " + id.getName());
                }
                return id;
            }
        });
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> Mesh.builder().identityProvider(CA).identity(BACKEND).threads(2).meterRegistry(registry).build())
                    .isInstanceOf(IllegalStateException.class).hasMessage("filter refuses istio.tcp.sockets.open");
        }
        // The loops end within their 2 s shutdown bound, not at once: wait for that, no longer.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Set<String> left = new TreeSet<>(meshThreads());
        while (!before.containsAll(left) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            left = new TreeSet<>(meshThreads());
        }
        left.removeAll(before);
        assertThat(left).as("mesh threads the failed builds left").isEmpty();
    }

    /** The mesh's own threads (event loops {@code zerohop-N-M}, admin): not the JVM's, JUnit's or another library's. */
    private static Set<String> meshThreads() {
        Set<String> names = new TreeSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && t.getName().startsWith("zerohop")) {
                names.add(t.getName());
            }
        }
        return names;
    }

    /** inbound took 224.0.0.1 and 255.255.255.255 and start() bound them, where inboundEndpoint refuses both. */
    @Test
    void inboundRefusesMulticastAndBroadcastAsInboundEndpointDoes() throws Exception {
        assertThatThrownBy(() -> Mesh.builder().inbound(new InetSocketAddress("224.0.0.1", 25012)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("inbound address 224.0.0.1:25012 is a multicast address: give one host's IP");
        assertThatThrownBy(() -> Mesh.builder().inbound(new InetSocketAddress("ff02::1", 25012)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is a multicast address");
        assertThatThrownBy(() -> Mesh.builder().inbound(new InetSocketAddress("255.255.255.255", 25012)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("inbound address 255.255.255.255:25012 is the broadcast address: give one host's IP");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(new InetSocketAddress("10.0.0.1", 80), new InetSocketAddress("224.0.0.1", 80)))
                .hasMessage("inboundEndpoint: endpoint 224.0.0.1:80 is a multicast address: give one host's IP");
        Mesh.builder().inbound(new InetSocketAddress("0.0.0.0", 0)).inbound(new InetSocketAddress("127.0.0.1", 0)).inbound(null);
    }

    /** mtlsMode(null, 80) answered PERMISSIVE: a null must never read as a mode that lets plaintext in. */
    @Test
    void mtlsModeRefusesANullWorkload() {
        try (Mesh m = Mesh.builder().identityProvider(CA).threads(1).drain(Duration.ZERO).build()) {
            assertThatThrownBy(() -> m.mtlsMode(null, 80)).isInstanceOf(NullPointerException.class).hasMessage("workload");
        }
    }

    /**
     * serveHttp with an unresolved address threw UnresolvedAddressException with a null message, with null routes a JDK
     * NullPointerException about an internal variable; configDump(null) too; serve(ip:0) was accepted, and no peer can
     * dial port 0.
     */
    @Test
    void serveHttpServeAndConfigDumpNameTheirBadArgument() throws Exception {
        try (Mesh m = Mesh.builder().identityProvider(CA).threads(1).drain(Duration.ZERO).build()) {
            InetSocketAddress local = new InetSocketAddress("127.0.0.1", 0);
            assertThatThrownBy(() -> m.serveHttp(InetSocketAddress.createUnresolved("foo", 0), Map.of()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("serveHttp: bind foo:0 is unresolved: give an IP (0.0.0.0 for every address)");
            assertThatThrownBy(() -> m.serveHttp(local, null)).isInstanceOf(NullPointerException.class).hasMessage("routes");
            assertThatThrownBy(() -> m.serveHttp(null, Map.of())).isInstanceOf(NullPointerException.class).hasMessage("bind");
            assertThatThrownBy(() -> m.configDump(null)).isInstanceOf(NullPointerException.class).hasMessage("extra");
            InetAddress ip = InetAddress.getByName("127.0.0.1");
            try (HboneServerSocket handler = new HboneServerSocket()) {
                assertThatThrownBy(() -> m.serve(new InetSocketAddress(ip, 0), handler)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("serve: destination 127.0.0.1:0 has port 0, which no peer can dial: give the port callers connect to");
                assertThatThrownBy(() -> m.serve(new InetSocketAddress(ip, 8080), null)).isInstanceOf(NullPointerException.class)
                        .hasMessage("handler");
                // Java's "port 8080 on any address": no CONNECT names it, and tunnels went to a plaintext listener on the port
                // instead (a new-user pass); multicast and broadcast as inboundEndpoint refuses them.
                assertThatThrownBy(() -> m.serve(new InetSocketAddress(8080), handler)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("serve: destination 0.0.0.0:8080 is a wildcard address, which no CONNECT names: give the workload's"
                                + " IP callers connect to (a serve call per address)");
                assertThatThrownBy(() -> m.serve(new InetSocketAddress("::", 8080), handler)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("is a wildcard address");
                assertThatThrownBy(() -> m.serve(new InetSocketAddress("224.0.0.1", 8080), handler)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("serve: destination 224.0.0.1:8080 is a multicast address: give one host's IP");
                m.serve(new InetSocketAddress(ip, 8080), handler);
            }
            assertThat(m.configDump(Map.of())).startsWith("{");
        }
    }

    /**
     * readinessTask after close() added the task: readiness then listed [draining, x]. A closed mesh refuses it as it
     * refuses start(), serve() and the other calls that would add to it.
     */
    @Test
    void aClosedMeshRefusesAReadinessTask() {
        Mesh m = Mesh.builder().identityProvider(CA).threads(1).drain(Duration.ZERO).build();
        m.close();
        assertThatThrownBy(() -> m.readinessTask("x")).isInstanceOf(IllegalStateException.class)
                .hasMessage("readinessTask: this mesh is closed (or closing)");
        assertThat(m.pendingReadiness()).contains("draining").doesNotContain("x");
        assertThatThrownBy(() -> m.start()).hasMessage("start: this mesh is closed (or closing)");
        // Accepted silently until 5 December.
        assertThatThrownBy(() -> m.addOwnPort(15020)).isInstanceOf(IllegalStateException.class)
                .hasMessage("addOwnPort: this mesh is closed (or closing)");
        assertThat(m.ownPorts()).doesNotContain(15020);
    }
    /**
     * A capture, plaintext-inbound or HTTP listener on a taken port threw Netty's undeclared NativeIoException, "bind(..)
     * failed with error(-98): Address already in use", naming no address (a new-user pass), where start() names the HBONE
     * listener's. Each now names what could not bind and where, the kernel's error as the cause.
     */
    @Test
    void aListenerOnATakenPortNamesItsAddress() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 50, InetAddress.getByName("127.0.94.30"));
             Mesh m = Mesh.builder().identityProvider(CA).identity(BACKEND).threads(1).build()) {
            InetSocketAddress at = (InetSocketAddress) taken.getLocalSocketAddress();
            String where = "127.0.94.30:" + at.getPort() + ": ";
            assertThatThrownBy(() -> m.capture(Capture.socks5(at))).isInstanceOf(java.io.UncheckedIOException.class)
                    .hasMessageStartingWith("cannot bind capture listener to " + where).hasMessageContaining("Address already in use")
                    .hasCauseInstanceOf(java.io.IOException.class);
            assertThatThrownBy(() -> m.plaintextInbound(Capture.forward(at, new InetSocketAddress("127.0.94.31", 80))))
                    .isInstanceOf(java.io.UncheckedIOException.class).hasMessageStartingWith("cannot bind capture listener to " + where);
            assertThatThrownBy(() -> m.serveHttp(at, Map.of())).isInstanceOf(java.io.UncheckedIOException.class)
                    .hasMessageStartingWith("cannot bind HTTP endpoint to " + where);
        }
    }

    /** serve() on a mesh without an HBONE listener can never get a tunnel: a WARN at start and at a later serve (it was silent). */
    @Test
    void servingWithoutAnInboundListenerIsSaid() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
             Mesh m = Mesh.builder().identityProvider(CA).threads(1).drain(Duration.ZERO).build();
             HboneServerSocket handler = new HboneServerSocket()) {
            m.serve(new InetSocketAddress(InetAddress.getByName("127.0.86.9"), 8080), handler);
            m.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(err.awaitLine("serve(127.0.86.9:8080): this mesh has no HBONE listener (Mesh.Builder.inbound)")).contains("WARN");
            m.serve(new InetSocketAddress(InetAddress.getByName("127.0.86.9"), 9090), handler);
            assertThat(err.awaitLine("serve(127.0.86.9:8080, 127.0.86.9:9090): this mesh has no HBONE listener")).contains("WARN");
        }
    }
}
