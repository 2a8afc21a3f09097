package io.zerohop.identity;

import java.time.Instant;
import java.util.List;

/**
 * What {@link InMemoryCa#issue(LeafSpec)} puts in a leaf. The defaults from {@link #svid} obey the
 * X.509-SVID rules; the other fields exist so tests and tools can make certificates that break them
 * (a CA flag on a leaf, two URI SANs, a validity window in the past).
 */
public record LeafSpec(List<String> uriSans, boolean ca, boolean digitalSignature, Instant notBefore, Instant notAfter) {
    public LeafSpec {
        uriSans = List.copyOf(uriSans);
        for (String san : uriSans) {
            // Checked here, as the JDK's X.509 encoder checks a URI name (a URI with a scheme), so that a caller's typo is an
            // IllegalArgumentException naming it, not an IllegalStateException "certificate signing failed" at issue time
            // (a new-user pass). Anything else a test may want to issue (a URI that is no SPIFFE ID) stays allowed.
            try {
                if (new java.net.URI(san).getScheme() == null) {
                    throw new IllegalArgumentException("URI SAN \"" + san + "\" has no scheme: give a URI such as spiffe://TD/ns/NS/sa/SA");
                }
            } catch (java.net.URISyntaxException e) {
                throw new IllegalArgumentException("URI SAN \"" + san + "\" is not a URI (" + e.getMessage()
                        + "): give one such as spiffe://TD/ns/NS/sa/SA", e);
            }
        }
        if (!notAfter.isAfter(notBefore)) {
            throw new IllegalArgumentException("notAfter " + notAfter + " must be after notBefore " + notBefore);
        }
    }

    public static LeafSpec svid(String spiffeId, Instant notBefore, Instant notAfter) {
        return new LeafSpec(List.of(spiffeId), false, true, notBefore, notAfter);
    }

    public LeafSpec withUriSans(String... sans) {
        return new LeafSpec(List.of(sans), ca, digitalSignature, notBefore, notAfter);
    }

    public LeafSpec withCa(boolean isCa) {
        return new LeafSpec(uriSans, isCa, digitalSignature, notBefore, notAfter);
    }

    public LeafSpec withDigitalSignature(boolean set) {
        return new LeafSpec(uriSans, ca, set, notBefore, notAfter);
    }
}
