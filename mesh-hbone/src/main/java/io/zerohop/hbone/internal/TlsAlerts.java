package io.zerohop.hbone.internal;

import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a TLS alert the peer sent means, for a failed handshake's reason. BoringSSL names a
 * <em>received</em> alert {@code SSLV3_ALERT_*} or {@code TLSV1_ALERT_*} (its {@code SSL_AD_REASON_OFFSET}
 * reasons; {@code TLSV1_CERTIFICATE_REQUIRED} is the one without {@code ALERT}), while a failure of
 * this side is named by its cause ({@code CERTIFICATE_VERIFY_FAILED}, the trust manager's message). A
 * server's log read {@code TLSV1_ALERT_UNKNOWN_CA} when it was the client that did not trust the
 * server (a new-user pass): the reason now says whose decision it was.
 */
final class TlsAlerts {
    private static final Pattern RECEIVED = Pattern.compile("(?:SSLV3|TLSV1)_ALERT_([A-Z_]+)|TLSV1_(CERTIFICATE_REQUIRED)");

    // Alert names as RFC 8446 §6 spells them; the text is what the alert says about this side.
    private static final Map<String, String> MEANING = Map.ofEntries(
            Map.entry("certificate_unknown", "it refused this side's certificate (an identity it did not expect, a trust domain it does not accept, or an extendedKeyUsage without this side's TLS role)"),
            Map.entry("unknown_ca", "it does not trust the CA that issued this side's certificate"),
            Map.entry("bad_certificate", "it found this side's certificate unusable"),
            Map.entry("certificate_expired", "it says this side's certificate is expired or not yet valid"),
            Map.entry("certificate_revoked", "it says this side's certificate is revoked"),
            Map.entry("unsupported_certificate", "it cannot use this side's kind of certificate"),
            Map.entry("certificate_required", "it requires a client certificate and got none"),
            Map.entry("handshake_failure", "it found no acceptable parameters (cipher suite, group or signature algorithm)"),
            Map.entry("protocol_version", "it does not accept this side's TLS version (HBONE is TLS 1.3)"),
            Map.entry("no_application_protocol", "no ALPN protocol in common (HBONE offers h2)"),
            Map.entry("decrypt_error", "it could not verify this side's handshake signature"),
            Map.entry("access_denied", "it refused access"),
            Map.entry("internal_error", "it failed for a reason of its own"));

    private TlsAlerts() {}

    /**
     * " (alert NAME from the peer: MEANING)" when {@code reason} holds a BoringSSL received-alert name,
     * else "". Never null.
     */
    static String explain(CharSequence reason) {
        Matcher m = RECEIVED.matcher(reason);
        if (!m.find()) {
            return local(reason);
        }
        String name = (m.group(1) != null ? m.group(1) : m.group(2)).toLowerCase(Locale.ROOT);
        String meaning = MEANING.get(name);
        return " (alert " + name + " from the peer" + (meaning != null ? ": " + meaning : "") + ")";
    }

    /**
     * A peer that is no TLS server or client: dialled as HBONE, an echo server returns the ClientHello
     * ({@code UNEXPECTED_MESSAGE}), an HTTP/1 server answers {@code HTTP/1.1 400} (Netty's SslHandler: {@code not an SSL/TLS
     * record}); BoringSSL reads other plaintext as {@code WRONG_VERSION_NUMBER}. A new user's proxy read the bare code, while
     * {@code zerohop connect} said what it means: both sides' wording, since a server sees a plaintext client so.
     */
    static final String NOT_TLS = "the peer does not speak TLS: a client dialled a port that is not HBONE's (15008),"
            + " or a plaintext client reached an HBONE port";

    /**
     * BoringSSL's reasons for a handshake this side refused, as bare codes (newuser19 read
     * {@code UNSUPPORTED_PROTOCOL} for a TLS 1.2 client with no hint): what each means for HBONE, mutual TLS 1.3
     * with ALPN h2 (DESIGN section 3).
     */
    private static final Map<String, String> LOCAL = Map.of(
            "UNSUPPORTED_PROTOCOL", "the peer offered no TLS version this side accepts: HBONE is TLS 1.3 only",
            "PEER_DID_NOT_RETURN_A_CERTIFICATE", "the client sent no certificate: HBONE is mutual TLS",
            "NO_SHARED_CIPHER", "the peer offered no cipher suite this side accepts",
            "NO_SHARED_GROUP", "the peer offered no key-exchange group this side accepts",
            "WRONG_VERSION_NUMBER", NOT_TLS,
            "UNEXPECTED_MESSAGE", NOT_TLS,
            "UNEXPECTED_RECORD", NOT_TLS,
            "HTTP_REQUEST", "the peer sent a plaintext HTTP request to an HBONE port",
            "KEY_USAGE_BIT_INCORRECT", "the peer's certificate may not sign a handshake (a CA certificate used as a workload's?)");

    private static String local(CharSequence reason) {
        String text = reason.toString();
        if (text.contains("not an SSL/TLS record")) {
            return " (" + NOT_TLS + ")";
        }
        for (Map.Entry<String, String> e : LOCAL.entrySet()) {
            if (text.contains(":" + e.getKey())) {
                return " (" + e.getValue() + ")";
            }
        }
        return "";
    }
}
