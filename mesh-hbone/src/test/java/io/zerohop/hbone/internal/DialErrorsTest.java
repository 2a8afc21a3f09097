package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ConnectTimeoutException;
import java.net.ConnectException;
import org.junit.jupiter.api.Test;

/** The texts the transports give, as ztunnel's Rust {@code io::Error} prints an OS error (src/proxy.rs). */
class DialErrorsTest {
    @Test
    void nettysEpollTextIsRustsIoErrorText() {
        // Netty 4.2's Errors.NativeConnectException, annotated with the address by the epoll channel.
        ConnectException epoll = new ConnectException("finishConnect(..) failed with error(-111): Connection refused: 127.0.0.1/127.0.0.1:8080");
        assertThat(DialErrors.describe(epoll)).isEqualTo("Connection refused (os error 111)");
        assertThat(DialErrors.describe(new java.io.IOException("wrapped", new ConnectException("connect(..) failed with error(-113): No route to host"))))
                .isEqualTo("No route to host (os error 113)");
    }

    @Test
    void nioTextGetsLinuxsErrno() {
        assertThat(DialErrors.describe(new ConnectException("Connection refused: /127.0.0.1:8080"))).isEqualTo("Connection refused (os error 111)");
        assertThat(DialErrors.describe(new java.net.NoRouteToHostException("No route to host"))).isEqualTo("No route to host (os error 113)");
    }

    @Test
    void anythingElseKeepsItsWholeCauseChain() {
        ConnectTimeoutException timeout = new ConnectTimeoutException("connection timed out after 10000 ms: /10.0.0.1:80");
        // Netty's text with the duration as the option is written (connection timed out after 10s), as zerohop's own dial timer says it.
        assertThat(DialErrors.describe(timeout)).isEqualTo("connection timed out after 10s: /10.0.0.1:80");
        assertThat(DialErrors.describe(new ConnectException("Something new"))).isEqualTo("Something new");
    }

    @Test
    void anEmbeddedExceptionsClassNameIsDropped() {
        javax.net.ssl.SSLHandshakeException e = new javax.net.ssl.SSLHandshakeException("io.netty.handler.ssl.ReferenceCountedOpenSslEngine"
                + "$OpenSslException: error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA");
        assertThat(HboneListener.describe(e)).isEqualTo("error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA"
                + " (alert unknown_ca from the peer: it does not trust the CA that issued this side's certificate)");
        assertThat(HboneListener.describe(new java.io.IOException("upstream 10.0.0.1:80 unreachable: java.net.ConnectException: refused")))
                .isEqualTo("upstream 10.0.0.1:80 unreachable: refused");
    }

    /** newuser19: a TLS 1.2 client's refusal read only "UNSUPPORTED_PROTOCOL"; a client without a certificate likewise. */
    @Test
    void thisSidesOwnTlsRefusalsSayWhatTheyMeanForHbone() {
        assertThat(HboneListener.describe(new javax.net.ssl.SSLHandshakeException(
                "error:100000f0:SSL routines:OPENSSL_internal:UNSUPPORTED_PROTOCOL")))
                .endsWith(":UNSUPPORTED_PROTOCOL (the peer offered no TLS version this side accepts: HBONE is TLS 1.3 only)");
        assertThat(HboneListener.describe(new javax.net.ssl.SSLHandshakeException(
                "error:100000c7:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE")))
                .endsWith(" (the client sent no certificate: HBONE is mutual TLS)");
        assertThat(HboneListener.describe(new java.io.IOException("Connection reset by peer"))).isEqualTo("Connection reset by peer");
    }

    /** newuser20: a client that connects and closes during the handshake (a port probe) was logged "StacklessClosedChannelException". */
    @Test
    void aClosedChannelWithoutAMessageIsAClosedConnection() {
        javax.net.ssl.SSLHandshakeException e = new javax.net.ssl.SSLHandshakeException("HBONE TLS handshake with 127.0.0.1:1 failed");
        e.initCause(new java.nio.channels.ClosedChannelException());
        assertThat(HboneListener.describe(e)).isEqualTo("HBONE TLS handshake with 127.0.0.1:1 failed: connection closed");
    }
}
