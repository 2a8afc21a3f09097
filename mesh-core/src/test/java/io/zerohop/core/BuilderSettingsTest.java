package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import org.junit.jupiter.api.Test;

/** newuser23: builder settings that could never work are refused or warned about at once, naming the setting. */
class BuilderSettingsTest {
    /** 100000 was accepted and build() failed with "Too many open files", not naming threads. */
    @Test
    void threadsOutOfRangeAreRefusedNamingTheSetting() {
        assertThatThrownBy(() -> Mesh.builder().threads(100_000)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("threads must be 1-1024").hasMessageEndingWith("got 100000");
        assertThatThrownBy(() -> Mesh.builder().threads(0)).isInstanceOf(IllegalArgumentException.class).hasMessageEndingWith("got 0");
        Mesh.builder().threads(1024);
    }

    /**
     * ztunnel's HTTP2_STREAM_WINDOW_SIZE, HTTP2_CONNECTION_WINDOW_SIZE and HTTP2_FRAME_SIZE had no counterpart here (the
     * {@code zerohop proxy} CLI could not honour them); what the HBONE builders would refuse at start is refused at once,
     * named {@code http2}. The SETTINGS a client sees: the CLI's ZtunnelEnvTest.
     */
    @Test
    void http2SettingsAreCheckedAtOnceNamingTheSetting() {
        Mesh.builder().http2(1 << 20, 1 << 24, 1 << 16);
        assertThatThrownBy(() -> Mesh.builder().http2(1024, 1 << 24, 1 << 16)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("http2: stream window must be >= 65535 bytes, got 1024");
        assertThatThrownBy(() -> Mesh.builder().http2(1 << 20, 1 << 24, 1 << 24)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("http2: max frame size must be in [16384, 16777215], got 16777216");
        assertThatThrownBy(() -> Mesh.builder().http2(Integer.MAX_VALUE, 1 << 24, 1 << 16)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("http2: stream window 2147483647 bytes is above the mesh's unread-bytes budget per peer");
    }

    /** Accepted silently before: identity() stayed empty and no SVID of example.org could be issued. */
    @Test
    void aTrustDomainOtherThanTheProvidersIsWarnedAboutNamingBoth() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (CapturedStderr err = new CapturedStderr()) {
            try (Mesh m = Mesh.builder().identityProvider(ca).trustDomain("example.org").drain(java.time.Duration.ZERO).threads(1).build()) {
                String line = err.awaitLine("WARN io.zerohop.core.Mesh - trustDomain example.org, but the identity provider");
                assertThat(line).contains("(InMemoryCa) is of cluster.local", "give the same trust domain to both");
            }
            try (Mesh m = Mesh.builder().identityProvider(ca).trustDomain("cluster.local").drain(java.time.Duration.ZERO).threads(1).build()) {
                assertThat(m.identity()).isEmpty();
            }
            assertThat(err.count("give the same trust domain to both")).as("warnings (only the mismatched mesh's)").isEqualTo(1);
        }
    }

    /**
     * A registry whose workloads name no node at all printed "(its workloads' nodes: [])": an empty list and no way out
     * (the CLI's same warning was fixed by a new-user pass; the library's said the same).
     */
    @Test
    void aNodeWhenNoWorkloadNamesANodeSaysWhatIsMissing() throws Exception {
        java.net.InetAddress ip = java.net.InetAddress.getByName("127.0.0.2");
        WorkloadRegistry registry = WorkloadRegistry.of(java.util.List.of(new Workload("prod", "backend", "backend", java.util.Map.of(),
                java.util.List.of(ip), Workload.Protocol.HBONE, null, "cluster.local")), java.util.Map.of());
        try (CapturedStderr err = new CapturedStderr()) {
            try (Mesh m = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).workloads(registry).node("node-a")
                    .drain(java.time.Duration.ZERO).threads(1).build()) {
                m.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(err.awaitLine("WARN io.zerohop.core.Mesh - node \"node-a\"")).contains(
                        "no workload of the registry is on it, so this mesh serves none (none of its workloads has a node:"
                                + " give each the node of the mesh that serves it, or leave node() unset to serve those whose"
                                + " address is on this host)");
            }
        }
    }

    /** A library-user pass: a misspelt node served nothing, and its callers saw only 400 "not served". */
    @Test
    void aNodeNoWorkloadIsOnIsWarnedAtStart() throws Exception {
        java.net.InetAddress ip = java.net.InetAddress.getByName("127.0.0.2");
        WorkloadRegistry registry = WorkloadRegistry.of(java.util.List.of(new Workload("prod", "backend", "backend", java.util.Map.of(),
                java.util.List.of(ip), Workload.Protocol.HBONE, "node-a", "cluster.local")), java.util.Map.of());
        try (CapturedStderr err = new CapturedStderr()) {
            try (Mesh m = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).workloads(registry).node("node-A")
                    .drain(java.time.Duration.ZERO).threads(1).build()) {
                m.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(err.awaitLine("WARN io.zerohop.core.Mesh - node \"node-A\"")).contains(
                        "no workload of the registry is on it, so this mesh serves none (its workloads' nodes: [node-a])");
            }
            try (Mesh m = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).workloads(registry).node("node-a")
                    .drain(java.time.Duration.ZERO).threads(1).build()) {
                m.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
            }
            assertThat(err.count("so this mesh serves none")).as("only the misspelt node's mesh").isEqualTo(1);
        }
    }
}
