package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.SocketFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * newuser23: calling out after {@code close()} as an identity not used before created its HBONE client on the
 * terminated event loops (Netty: "Force-closing a channel whose registration task was not accepted"): the
 * future never completed and a socket factory's socket timed out after 30 s with a message about the timeout.
 * Now both fail at once, saying the mesh is closed, as start/serve/capture do.
 */
@Timeout(20)
class ClosedMeshOutboundTest {
    @Test
    void connectAndSocketFactoriesFailAtOnceAfterClose() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend", "backend", Map.of(), List.of(ip), Workload.Protocol.HBONE, null, "cluster.local");
        Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).drain(java.time.Duration.ZERO).threads(2).build();
        InetSocketAddress target = new InetSocketAddress(ip, 8080);
        SocketFactory before = mesh.socketFactory(SpiffeIds.istio("cluster.local", "prod", "early"));
        mesh.close();

        CompletableFuture<HboneStream> f = mesh.connect(SpiffeIds.istio("cluster.local", "prod", "late"), target);
        assertThat(f).as("connect after close").isCompletedExceptionally();
        assertThatThrownBy(() -> f.get(1, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(IllegalStateException.class).hasMessage("connect: this mesh is closed (or closing)");
        assertThat(mesh.connect(SpiffeIds.istio("cluster.local", "prod", "late"), target, mesh.route(target)))
                .as("connect along a route after close").isCompletedExceptionally();

        SocketFactory after = mesh.socketFactory(SpiffeIds.istio("cluster.local", "prod", "other"));
        assertThatThrownBy(() -> after.createSocket(ip, 8080)).isInstanceOf(SocketException.class)
                .hasMessage("createSocket: this mesh is closed (or closing)");
        assertThatThrownBy(() -> after.createSocket().connect(target)).isInstanceOf(SocketException.class)
                .hasMessageContaining("mesh is closed");
        assertThatThrownBy(() -> before.createSocket(ip, 8080)).as("a factory made before the close").isInstanceOf(SocketException.class)
                .hasMessageContaining("mesh is closed");
    }

    /**
     * A library-user pass: a mesh started before its close returned its old, completed future from a later
     * {@code start()}, where the Javadoc says closed means {@link IllegalStateException}; one never started already threw.
     */
    @Test
    void startAfterCloseThrowsWhetherStartedBeforeOrNot() throws Exception {
        Mesh started = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                .inbound(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0)).drain(java.time.Duration.ZERO).threads(1).build();
        started.start().get(10, TimeUnit.SECONDS);
        started.close();
        assertThatThrownBy(started::start).isInstanceOf(IllegalStateException.class).hasMessage("start: this mesh is closed (or closing)");
        Mesh never = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).drain(java.time.Duration.ZERO).threads(1).build();
        never.close();
        assertThatThrownBy(never::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("mesh is closed");
    }

    /** A library-user pass: {@code node("")} was taken, matched no workload and served nothing, silently. */
    @Test
    void aBlankNodeIsRefused() {
        assertThatThrownBy(() -> Mesh.builder().node("")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("node: \"\" is blank, which is no workload's node; leave it unset (null)");
        assertThatThrownBy(() -> Mesh.builder().node("  ")).isInstanceOf(IllegalArgumentException.class);
    }
}
