package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ConnectTimeoutException;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.TunnelInfo;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.util.Map;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/**
 * The response flag of an outbound open that failed without a CONNECT response, as ztunnel's
 * {@code extract_failure_reason} (istio/ztunnel src/proxy/metrics.rs) maps the errors of its pool
 * (src/proxy/pool.rs {@code new_pool_conn}: a dial timeout is {@code MaybeHBONENetworkPolicyError},
 * any other dial or TLS error an {@code io::Error}) and of {@code send_request}
 * (src/proxy/h2/client.rs: h2 errors). The exceptions are the ones mesh-hbone's client raises; the
 * cases that real sockets can make are in OutboundFailureMetricsTest, a dial timeout is not (it
 * needs a peer that never answers a SYN).
 */
class OpenFailureFlagsTest {
    static final SpiffeId SRC = SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/frontend");
    static final SpiffeId DST = SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend");

    static TunnelInfo open(SpiffeId verifiedPeer) {
        return new TunnelInfo(TunnelInfo.Direction.OUTBOUND, SRC, verifiedPeer, verifiedPeer == null ? null : new InetSocketAddress("10.0.0.1", 40000),
                new InetSocketAddress("10.0.0.2", 15008), new InetSocketAddress("10.0.0.2", 8080), Map.of());
    }

    static <T extends Throwable> T causedBy(T t, Throwable cause) {
        t.initCause(cause);
        return t;
    }

    @Test
    void aDialTimeoutIsNetworkPolicy() {
        assertThat(TrafficLabels.openFailureFlags(open(null),
                causedBy(new ConnectException("HBONE connection to 10.0.0.2:15008 failed"), new ConnectTimeoutException("timed out"))))
                .isEqualTo("NETWORK_POLICY");
    }

    @Test
    void aRefusedDialAndAFailedHandshakeAreConnect() {
        assertThat(TrafficLabels.openFailureFlags(open(null), causedBy(new ConnectException("failed"), new ConnectException("refused"))))
                .isEqualTo("CONNECT");
        assertThat(TrafficLabels.openFailureFlags(open(null), new SSLHandshakeException("wrong SAN"))).isEqualTo("CONNECT");
    }

    /** ztunnel: {@code fetch_certificate} failing in {@code new_pool_conn} is {@code Error::Identity}, {@code IDENTITY_ERROR}. */
    @Test
    void noCertificateForTheSourceIsAnIdentityError() {
        assertThat(TrafficLabels.openFailureFlags(open(null), new io.zerohop.hbone.HboneIdentityException("no TLS context for HBONE source",
                new IllegalArgumentException("no SVID")))).isEqualTo("IDENTITY_ERROR");
    }

    /**
     * ztunnel: a certificate fetched whose key rustls refuses to pair with it in {@code outbound_connector}
     * (src/tls/certificate.rs) is {@code Error::Tls}, {@code TLS_FAILURE}, logged as "tls error: tls: ..." (src/proxy.rs,
     * src/tls.rs); the Istio CA's answer for another key reaches mesh-hbone so, inside the provider's own error. The
     * real-socket case is zerohop-cli's IstioCaKeyMismatchFlagTest.
     */
    @Test
    void aKeyThatIsNotTheCertificatesIsATlsFailure() {
        Throwable ca = new IllegalStateException("Istio CA returned an unusable certificate",
                new io.zerohop.identity.SvidKeyMismatchException("private key does not match the certificate's public key"));
        assertThat(TrafficLabels.openFailureFlags(open(null), new io.zerohop.hbone.HboneIdentityException("no TLS context for HBONE source",
                ca))).isEqualTo("TLS_FAILURE");
        assertThat(ZtunnelAccessLog.openError("TLS_FAILURE", "private key does not match")).isEqualTo("tls error: tls: private key does not match");
        assertThat(ZtunnelAccessLog.openError("IDENTITY_ERROR", "no SVID")).isEqualTo("identity error: no SVID");
    }

    @Test
    void aLossAfterTheServerWasVerifiedIsAnH2Failure() {
        assertThat(TrafficLabels.openFailureFlags(open(DST), new IOException("closed before a CONNECT response")))
                .isEqualTo("H2_HANDSHAKE_FAILURE");
    }

    @Test
    void ourOwnResponseDeadlineIsConnect() {
        assertThat(TrafficLabels.openFailureFlags(open(DST), new SocketTimeoutException("no CONNECT response"))).isEqualTo("CONNECT");
    }
}
