package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.internal.HboneListener;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.EchoServer;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass: the server's reason for a failed handshake read TLSV1_ALERT_UNKNOWN_CA when it was
 * the client that refused the server, and nothing said so. A received alert now says it came from the
 * peer and what it means; a refusal of this side's own stays as its cause says. Real handshakes.
 */
class PeerAlertReasonTest {
    static Mesh mesh;
    static EchoServer echo;
    static RecordingEvents events = new RecordingEvents();
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = mesh.server(DestinationResolver.sameIp()).listener(events).build().start().get();
    }

    @AfterAll
    static void stop() {
        server.close();
        echo.close();
        mesh.close();
    }

    @Test
    @DisplayName("a client expecting another identity: the server's reason is certificate_unknown from the peer, the client's its own check")
    void anUnexpectedServerIdentity() throws Exception {
        events.clear();
        SpiffeId other = SpiffeIds.istio("cluster.local", "prod", "other");
        try (HboneClient client = mesh.client().build()) {
            Throwable e = catchThrowable(() -> client.connect(echo.address(), Set.of(other), server.localAddress()).get(10, TimeUnit.SECONDS));
            assertThat(HboneListener.describe(e)).contains("is not the expected " + other).doesNotContain("from the peer");
        }
        assertThat(HboneListener.describe(RecordingEvents.next(events.failed)))
                .endsWith("SSLV3_ALERT_CERTIFICATE_UNKNOWN (alert certificate_unknown from the peer: it refused this side's certificate"
                        + " (an identity it did not expect, a trust domain it does not accept, or an extendedKeyUsage without this side's TLS role))");
    }

    @Test
    @DisplayName("a client of another CA: the server's reason is unknown_ca from the peer; the client's names its own failed chain check")
    void aClientOfAnotherCa() throws Exception {
        events.clear();
        try (InMemoryCa rogue = InMemoryCa.create("cluster.local");
                MeshTls rogueTls = MeshTls.builder(rogue).build();
                HboneClient client = HboneClient.builder().tls(rogueTls).identity(mesh.clientId).threads(1).build()) {
            Throwable e = catchThrowable(() -> client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS));
            assertThat(HboneListener.describe(e)).contains("chain does not verify").doesNotContain("from the peer");
        }
        assertThat(HboneListener.describe(RecordingEvents.next(events.failed)))
                .endsWith("TLSV1_ALERT_UNKNOWN_CA (alert unknown_ca from the peer: it does not trust the CA that issued this side's certificate)");
    }

    /**
     * A new-user pass: when the server refuses the client's certificate (a CA it does not trust), TLS 1.3 tells the
     * client after its own side of the handshake, as an alert; the future failed with a plain IOException whose
     * cause chain was Netty's DecoderException and OpenSslException, while {@link HboneClient#connect} promises
     * {@link javax.net.ssl.SSLHandshakeException} for a failed handshake (callers catch SSLException). The client
     * here trusts the server (it federates the server's trust domain); the server does not trust the client's CA.
     */
    @Test
    @DisplayName("the server refusing the client's certificate: the client's future fails with SSLHandshakeException, the peer's alert explained")
    void theServerRefusingTheClientCertificateIsAnSslHandshakeException() throws Exception {
        try (InMemoryCa foreign = InMemoryCa.create("other.local");
                MeshTls foreignTls = MeshTls.builder(foreign).federation(true).build();
                HboneClient client = HboneClient.builder().tls(foreignTls).identity(SpiffeIds.istio("other.local", "prod", "client"))
                        .threads(1).build()) {
            foreign.federate(mesh.ca.bundle());
            Throwable e = catchThrowable(() -> client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS));
            assertThat(e).isInstanceOf(java.util.concurrent.ExecutionException.class);
            assertThat(e.getCause()).isInstanceOf(javax.net.ssl.SSLHandshakeException.class)
                    .hasMessageStartingWith("HBONE connection setup to " + io.zerohop.hbone.internal.Authority.text(server.localAddress()) + " failed: ")
                    .hasMessageContaining("from the peer: it does not trust the CA that issued this side's certificate")
                    .hasRootCauseInstanceOf(javax.net.ssl.SSLException.class);
            assertThat(e.getCause().getCause()).as("the original error is kept as the cause").isNotNull();
        }
    }
}
