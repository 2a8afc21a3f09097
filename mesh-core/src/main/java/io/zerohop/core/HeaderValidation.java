package io.zerohop.core;

import java.util.Objects;
import java.util.Optional;

/**
 * The checks a request's head passes before any policy reads it, exposed so that a tool can tell in advance what the
 * proxy refuses (the CLI's {@code zerohop policy check} uses them). The proxy answers an HTTP/1 request that fails one
 * with 400 and resets an HTTP/2 stream that fails one, as Envoy's codecs do in front of an Istio waypoint or Cilium's
 * L7 proxy.
 */
public final class HeaderValidation {

    private static final String AUTHORITY_PUNCTUATION = "!$%&'()*+,-.:;=@[]_~";

    private HeaderValidation() {
    }

    /**
     * Envoy's authority check (envoyproxy/envoy {@code source/common/http/header_validation.cc},
     * {@code check_authority_h1_h2}): a {@code Host} or {@code :authority} may hold only ASCII letters, digits and
     * {@code ! $ % & ' ( ) * + , - . : ; = @ [ ] _ ~}. Anything else, a space, {@code /}, {@code "} or a byte above
     * 0x7E, makes Envoy answer 400 {@code http.invalid_authority}. Taken as written, {@code Host: blocked.example/}
     * would escape a DENY on {@code hosts: [blocked.example]} and reach an application that reads it as that host.
     *
     * @param authority the header's value as the HTTP codec delivers it, not decoded: an HTTP/1 {@code Host} after field
     *                  parsing has dropped its surrounding spaces and tabs (RFC 9112 section 5.1, as Envoy's and Netty's
     *                  HTTP/1 codecs do), an HTTP/2 {@code :authority} exactly as sent (HTTP/2 has no such whitespace, so
     *                  {@code " a.example"} is refused there). Do not trim it yourself for HTTP/2. The empty string is
     *                  accepted, as by Envoy's table; not null
     * @return empty when Envoy accepts it, else the reason, naming the first refused character's code and index:
     *         {@code Host has a character Envoy refuses (0x2f at 15): http.invalid_authority}
     * @throws NullPointerException if {@code authority} is null
     */
    public static Optional<String> checkAuthority(String authority) {
        Objects.requireNonNull(authority, "authority");
        for (int i = 0; i < authority.length(); i++) {
            char c = authority.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || AUTHORITY_PUNCTUATION.indexOf(c) >= 0;
            if (!ok) {
                return Optional.of(String.format(
                        "Host has a character Envoy refuses (0x%02x at %d): http.invalid_authority", (int) c, i));
            }
        }
        return Optional.empty();
    }
}
