package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * The peer-certificate part of {@code x-forwarded-client-cert} as Envoy writes it for the configuration istiod
 * gives an inbound HTTP connection manager: {@code Hash=<sha256>;Subject="<subject>";URI=<san>[;URI=...][;DNS=...]}
 * ({@link Conn#xfcc()} puts {@code By=} in front).
 *
 * <p>Which configuration: istiod's ambient waypoint, {@code buildHCMConnectTerminateChain} in
 * istio/istio pilot/pkg/networking/core/listener_waypoint.go, sets {@code set_current_client_cert_details}
 * {@code {subject: true, uri: true, dns: true}} unconditionally; the sidecar inbound listener
 * ({@code buildSidecarInboundHTTPOpts} in pilot/pkg/networking/core/listener_inbound.go) sets the same three
 * by default (each unless ProxyConfig's {@code proxyHeaders.setCurrentClientCertDetails} turns it off; cert and
 * chain only when turned on). zerohop follows the waypoint (no Cert, no Chain). The forward mode istiod defaults
 * to is APPEND_FORWARD (pilot/pkg/networking/util/proxy_headers.go); zerohop replaces a client's header, i.e.
 * SANITIZE_SET, because a mesh peer's own XFCC is not something an application behind zerohop can trust.
 *
 * <p>Envoy's format (envoyproxy/envoy source/common/http/conn_manager_utility.cc {@code mutateXfccRequestHeader};
 * field order from source/extensions/filters/network/http_connection_manager/config.cc, which lists the
 * enabled details as Cert, Chain, Subject, URI, DNS): {@code Hash} is the lower-case hex SHA-256 of the
 * peer's leaf certificate DER ({@code sha256PeerCertificateDigest}, source/common/tls/connection_info_impl_base.cc);
 * {@code Subject} is always written, in double quotes, even when empty (Istio's workload certificates have an
 * empty subject: {@code Subject=""}), as BoringSSL prints it with {@code XN_FLAG_RFC2253}
 * ({@code getRFC2253NameFromCertificate}, source/common/tls/utility.cc), see {@link #subject}; one {@code URI=}
 * per URI SAN in certificate order, a bare {@code URI=} when there is none; one {@code DNS=} per DNS SAN,
 * none when there is none. Envoy does not escape a {@code "} inside the subject (the RFC 2253 form already
 * backslash-escapes it).
 */
final class ClientCertDetails {

    private static final AttributeKey<String> KEY = AttributeKey.valueOf(ClientCertDetails.class, "xfcc");
    private static final HexFormat HEX = HexFormat.of();

    private ClientCertDetails() {
    }

    /**
     * The details of the peer certificate of {@code stream}'s HBONE connection (its parent channel's TLS
     * session), computed at the first tunnel and kept on that connection for every later tunnel; null when
     * the stream has no TLS connection under it or the peer presented no X.509 certificate.
     */
    static String of(Channel stream) {
        Channel connection = stream.parent();
        if (connection == null) {
            return null;
        }
        String cached = connection.attr(KEY).get();
        if (cached != null) {
            return cached;
        }
        SslHandler ssl = connection.pipeline().get(SslHandler.class);
        if (ssl == null) {
            return null;
        }
        Certificate[] chain;
        try {
            chain = ssl.engine().getSession().getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
            return null;
        }
        String details = of(leaf);
        String raced = connection.attr(KEY).setIfAbsent(details);
        return raced == null ? details : raced;
    }

    /** {@code Hash=...;Subject="...";URI=...[;DNS=...]} for {@code cert}, as Envoy writes them. */
    static String of(X509Certificate cert) {
        StringBuilder sb = new StringBuilder(160);
        sb.append("Hash=").append(sha256(cert));
        sb.append(";Subject=\"").append(subject(cert)).append('"');
        List<String> uris = sans(cert, 6);
        if (uris.isEmpty()) {
            sb.append(";URI=");
        }
        for (String u : uris) {
            sb.append(";URI=").append(u);
        }
        for (String d : sans(cert, 2)) {
            sb.append(";DNS=").append(d);
        }
        return sb.toString();
    }

    private static String subject(X509Certificate cert) {
        javax.security.auth.x500.X500Principal p = cert.getSubjectX500Principal();
        try {
            return subject(p.getEncoded());
        } catch (IllegalArgumentException e) {
            // The JDK parsed this certificate, so its name is DER; should the walk below still disagree, the JDK's
            // RFC 2253 form is close (it differs in escaping bytes above 0x7f and in naming fewer types).
            return p.getName(javax.security.auth.x500.X500Principal.RFC2253);
        }
    }

    static String sha256(X509Certificate cert) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            throw new IllegalStateException("SHA-256 of the peer certificate", e);
        }
    }

    private static List<String> sans(X509Certificate cert, int type) {
        Collection<List<?>> all;
        try {
            all = cert.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return List.of();
        }
        if (all == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>(2);
        for (List<?> san : all) {
            if (san.size() >= 2 && san.get(0) instanceof Integer t && t == type && san.get(1) instanceof String s) {
                out.add(s);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ RFC 2253, as BoringSSL prints it

    /**
     * Short names BoringSSL prints ({@code XN_FLAG_FN_SN}) for the attribute types a certificate subject commonly
     * has; any other type is printed as an unknown one (its dotted OID, its value as DER in hex). BoringSSL knows more
     * types than these (its whole object table), and would print such a type by name with its string value.
     */
    private static final Map<String, String> SHORT_NAMES = Map.ofEntries(
            Map.entry("2.5.4.3", "CN"), Map.entry("2.5.4.4", "SN"), Map.entry("2.5.4.5", "serialNumber"),
            Map.entry("2.5.4.6", "C"), Map.entry("2.5.4.7", "L"), Map.entry("2.5.4.8", "ST"),
            Map.entry("2.5.4.9", "street"), Map.entry("2.5.4.10", "O"), Map.entry("2.5.4.11", "OU"),
            Map.entry("2.5.4.12", "title"), Map.entry("2.5.4.13", "description"), Map.entry("2.5.4.15", "businessCategory"),
            Map.entry("2.5.4.17", "postalCode"), Map.entry("2.5.4.41", "name"), Map.entry("2.5.4.42", "GN"),
            Map.entry("2.5.4.43", "initials"), Map.entry("2.5.4.44", "generationQualifier"),
            Map.entry("2.5.4.45", "x500UniqueIdentifier"), Map.entry("2.5.4.46", "dnQualifier"),
            Map.entry("2.5.4.65", "pseudonym"), Map.entry("2.5.4.97", "organizationIdentifier"),
            Map.entry("1.2.840.113549.1.9.1", "emailAddress"),
            Map.entry("0.9.2342.19200300.100.1.25", "DC"), Map.entry("0.9.2342.19200300.100.1.1", "UID"));

    /**
     * The subject name (its DER) as {@code X509_NAME_print_ex(..., XN_FLAG_RFC2253)} prints it: the RDNs last
     * first (and the values of a multi-valued RDN likewise reversed, {@code XN_FLAG_DN_REV} reverses the entry
     * list), joined by {@code ,} and, within an RDN, {@code +}; {@code type=value} with the short name
     * ({@link #SHORT_NAMES}), or the dotted OID with {@code #} and the value's DER in hex; string values converted to UTF-8 with {@code , + " \ < > ;}, a
     * leading space or {@code #} and a trailing space backslash-escaped and control bytes and every byte above
     * 0x7f written {@code \XX}; a value that is not a string type as {@code #} and the hex of its DER.
     * An empty name is the empty string.
     */
    static String subject(byte[] der) {
        Der name = new Der(der, 0, der.length);
        Der rdns = name.enter(0x30);
        List<List<String>> out = new ArrayList<>();
        while (rdns.more()) {
            Der set = rdns.enter(0x31);
            List<String> avas = new ArrayList<>(1);
            while (set.more()) {
                Der ava = set.enter(0x30);
                String oid = ava.oid();
                int start = ava.pos;
                int tag = ava.tag();
                byte[] value = ava.content();
                String type = SHORT_NAMES.get(oid);
                // XN_FLAG_DUMP_UNKNOWN_FIELDS: a type without a name is its dotted OID, its value '#' and the DER in hex.
                avas.add(type == null ? oid + "=" + value(-1, value, ava.bytes, start, ava.pos)
                        : type + "=" + value(tag, value, ava.bytes, start, ava.pos));
            }
            out.add(avas);
        }
        StringBuilder sb = new StringBuilder();
        for (int i = out.size() - 1; i >= 0; i--) {
            List<String> avas = out.get(i);
            if (sb.length() > 0) {
                sb.append(',');
            }
            for (int j = avas.size() - 1; j >= 0; j--) {
                sb.append(avas.get(j));
                if (j > 0) {
                    sb.append('+');
                }
            }
        }
        return sb.toString();
    }

    private static String value(int tag, byte[] v, byte[] all, int from, int to) {
        int[] chars;
        switch (tag) {
            case 0x0c -> chars = new String(v, StandardCharsets.UTF_8).codePoints().toArray();
            case 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b -> {
                chars = new int[v.length];
                for (int i = 0; i < v.length; i++) {
                    chars[i] = v[i] & 0xff;
                }
            }
            case 0x1e -> {
                chars = new int[v.length / 2];
                for (int i = 0; i < chars.length; i++) {
                    chars[i] = (v[2 * i] & 0xff) << 8 | (v[2 * i + 1] & 0xff);
                }
            }
            case 0x1c -> {
                chars = new int[v.length / 4];
                for (int i = 0; i < chars.length; i++) {
                    chars[i] = (v[4 * i] & 0xff) << 24 | (v[4 * i + 1] & 0xff) << 16 | (v[4 * i + 2] & 0xff) << 8 | (v[4 * i + 3] & 0xff);
                }
            }
            default -> {
                // XN_FLAG_RFC2253 includes ASN1_STRFLGS_DUMP_UNKNOWN: a non-string value is '#' and its DER in hex.
                StringBuilder sb = new StringBuilder("#");
                for (int i = from; i < to; i++) {
                    sb.append(Character.toUpperCase(Character.forDigit((all[i] >> 4) & 0xf, 16)))
                            .append(Character.toUpperCase(Character.forDigit(all[i] & 0xf, 16)));
                }
                return sb.toString();
            }
        }
        StringBuilder sb = new StringBuilder(chars.length);
        for (int i = 0; i < chars.length; i++) {
            int c = chars[i];
            if (c > 0x7f) {
                // ASN1_STRFLGS_UTF8_CONVERT then ASN1_STRFLGS_ESC_MSB: each UTF-8 byte as \XX.
                for (byte b : new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8)) {
                    hexEscape(sb, b & 0xff);
                }
            } else if (c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';'
                    || (i == 0 && (c == ' ' || c == '#')) || (i == chars.length - 1 && c == ' ')) {
                sb.append('\\').append((char) c);
            } else if (c < 0x20 || c == 0x7f) {
                hexEscape(sb, c);
            } else {
                sb.append((char) c);
            }
        }
        return sb.toString();
    }

    private static void hexEscape(StringBuilder sb, int b) {
        sb.append('\\').append(Character.toUpperCase(Character.forDigit(b >> 4, 16)))
                .append(Character.toUpperCase(Character.forDigit(b & 0xf, 16)));
    }

    /** A cursor over DER bytes {@code [pos, end)}: just enough of it to walk a Name. */
    private static final class Der {
        final byte[] bytes;
        int pos;
        final int end;

        Der(byte[] bytes, int pos, int end) {
            this.bytes = bytes;
            this.pos = pos;
            this.end = end;
        }

        boolean more() {
            return pos < end;
        }

        int tag() {
            if (pos >= end) {
                throw new IllegalArgumentException("truncated DER name");
            }
            return bytes[pos] & 0xff;
        }

        /** Reads one element's header at {@code pos}, returns its content bounds and moves past it. */
        private int[] element() {
            int p = pos + 1;
            if (p >= end) {
                throw new IllegalArgumentException("truncated DER name");
            }
            int len = bytes[p++] & 0xff;
            if (len > 0x7f) {
                int n = len & 0x7f;
                if (n == 0 || n > 3 || p + n > end) {
                    throw new IllegalArgumentException("bad DER length in name");
                }
                len = 0;
                for (int i = 0; i < n; i++) {
                    len = len << 8 | (bytes[p++] & 0xff);
                }
            }
            if (p + len > end) {
                throw new IllegalArgumentException("truncated DER name");
            }
            pos = p + len;
            return new int[] {p, p + len};
        }

        Der enter(int expected) {
            if (tag() != expected) {
                throw new IllegalArgumentException("unexpected DER tag " + tag() + " in name, wanted " + expected);
            }
            int[] c = element();
            return new Der(bytes, c[0], c[1]);
        }

        byte[] content() {
            tag();
            int[] c = element();
            byte[] out = new byte[c[1] - c[0]];
            System.arraycopy(bytes, c[0], out, 0, out.length);
            return out;
        }

        String oid() {
            if (tag() != 0x06) {
                throw new IllegalArgumentException("attribute type is not an OID");
            }
            byte[] v = content();
            StringBuilder sb = new StringBuilder();
            long acc = 0;
            boolean first = true;
            for (byte b : v) {
                acc = acc << 7 | (b & 0x7f);
                if ((b & 0x80) == 0) {
                    if (first) {
                        int top = acc < 40 ? 0 : acc < 80 ? 1 : 2;
                        sb.append(top).append('.').append(acc - 40L * top);
                        first = false;
                    } else {
                        sb.append('.').append(acc);
                    }
                    acc = 0;
                }
            }
            return sb.toString();
        }
    }
}
