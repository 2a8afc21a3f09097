package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Peer#parts}'s search for the Kubernetes form ({@code spiffe://TD/ns/NS/sa/SA}, istio/ztunnel
 * src/identity/manager.rs {@code Identity::from_str}: five segments, none empty) gives what its definition
 * gives: the first {@code /ns/} after the scheme, the first {@code /sa/} after it, and the form checked on
 * those two, else {@link Peer#NONE} (no {@code /ns/}) or {@link Peer#IRREGULAR}.
 */
class PeerPartsTest {

    /** The definition, written out as the reference. */
    private static long reference(String p) {
        int s = p.indexOf("/ns/", Peer.SCHEME);
        if (s < 0) {
            return Peer.NONE;
        }
        int td = s;
        s += 4;
        int e = p.indexOf("/sa/", s);
        boolean form = e >= 0 && td > Peer.SCHEME && p.indexOf('/', Peer.SCHEME) == td && e > s
                && p.indexOf('/', s) == e && e + 4 < p.length() && p.indexOf('/', e + 4) < 0;
        return form ? (long) s << 32 | e : Peer.IRREGULAR;
    }

    @Test
    void edgeCasesReadAsTheDefinitionReadsThem() {
        List<String> ids = List.of(
                "spiffe://cluster.local/ns/default/sa/bookinfo",
                "spiffe://td/ns/n/sa/s",
                "spiffe:///ns/n/sa/s", // empty trust domain
                "spiffe://td/ns//sa/s", // empty namespace
                "spiffe://td/ns/n/sa/", // empty service account
                "spiffe://td/ns/n/sa/s/x", // a sixth segment
                "spiffe://td/x/ns/n/sa/s", // /ns/ not right after the trust domain
                "spiffe://td/ns/n/x/sa/s",
                "spiffe://td/ns/sa/sa/s",
                "spiffe://td/ns/ns/sa/sa/s",
                "spiffe://td/ns/n/sa/sa/s",
                "spiffe://td/ns/n/sa",
                "spiffe://td/ns/n",
                "spiffe://td/ns/",
                "spiffe://td",
                "spiffe://td/",
                "spiffe://td/ns/n/sa/s/",
                "spiffe://td/nsx/n/sa/s",
                "spiffe://td/ns/n/sax/s",
                "spiffe://td/ns/n/sa/s?",
                "spiffe://",
                "");
        for (String id : ids) {
            assertThat(Peer.parts(id)).as(id).isEqualTo(reference(id));
        }
        assertThat(Peer.parts("spiffe://cluster.local/ns/default/sa/bookinfo")).isNotNegative();
        assertThat(Peer.parts("spiffe://td/ns/n/sa/s/x")).isEqualTo(Peer.IRREGULAR);
        assertThat(Peer.parts("spiffe://td/sa/s")).isEqualTo(Peer.NONE);
    }

    @Test
    void randomIdsReadAsTheDefinitionReadsThem() {
        // Short strings over the characters the form is made of, so that every arrangement of slashes, "ns" and
        // "sa" segments (empty, repeated, misplaced) comes up many times.
        String[] pieces = {"/", "ns", "sa", "n", "s", "a", "x", "td", "/ns/", "/sa/"};
        Random rnd = new Random(20261204);
        int regular = 0;
        for (int i = 0; i < 200_000; i++) {
            StringBuilder sb = new StringBuilder(rnd.nextInt(8) == 0 ? "" : "spiffe://");
            int n = rnd.nextInt(9);
            for (int k = 0; k < n; k++) {
                sb.append(pieces[rnd.nextInt(pieces.length)]);
            }
            String id = sb.toString();
            long got = Peer.parts(id);
            assertThat(got).as(id).isEqualTo(reference(id));
            regular += got >= 0 ? 1 : 0;
        }
        // The generator reaches the form often enough for the comparison to mean something.
        assertThat(regular).isGreaterThan(500);
    }
}
