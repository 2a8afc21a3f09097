package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.unix.Errors;
import java.io.IOException;
import java.security.cert.CertificateException;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/**
 * How {@code zerohop connect} tells a port that accepted and reset from a TLS failure when the reset reached the
 * handshake first. The chains are the ones seen (a new-user pass, 7 December): a {@code --via} port that resets while the
 * ClientHello is written gave BoringSSL's {@link SSLException} over Netty's native {@code ECONNRESET}, and exit 4 without
 * the README's hint; the reset read after the write gives exit 1 with it ({@code ConnectCommandTest}). The race itself
 * does not reproduce on demand on loopback, so the classification is checked on those chains.
 */
class ConnectResetInHandshakeTest {
    private static IOException econnreset() {
        io.netty.channel.epoll.Epoll.ensureAvailability(); // loads the native library Errors' messages come from
        // -104: ECONNRESET, as Netty's epoll transport reports it ("sendAddress(..) failed with error(-104): Connection reset by peer").
        return new Errors.NativeIoException("sendAddress(..)", -104);
    }

    @Test
    void aResetUnderTheHandshakesWriteIsAReset() {
        IOException seen = new IOException("HBONE TLS handshake with 127.0.234.3:48080 failed",
                new SSLException("failure when writing TLS control frames", econnreset()));
        assertThat(seen.getCause().getCause().getMessage()).contains("Connection reset");
        assertThat(ConnectCommand.resetWithoutAlert(seen)).isTrue();
    }

    @Test
    void anAlertOrACertificateIsStillATlsFailure() {
        assertThat(ConnectCommand.resetWithoutAlert(new IOException("HBONE TLS handshake failed",
                new SSLHandshakeException("error:10000410:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE")))).isFalse();
        IOException cert = new IOException("HBONE TLS handshake failed",
                new SSLHandshakeException("bad certificate"));
        cert.getCause().initCause(new CertificateException("no trusted root", econnreset()));
        assertThat(ConnectCommand.resetWithoutAlert(cert)).isFalse();
        assertThat(ConnectCommand.resetWithoutAlert(new IOException("Connection refused"))).isFalse();
    }
}
