package io.zerohop.identity.istio.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.Csr;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.identity.internal.X509;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class IstioCaResponsesTest {
    /**
     * istiod's clock 3 minutes ahead of this node's: it back-dates NotBefore by 2 minutes, so the leaf it returns starts
     * a minute in this node's future. ztunnel installs it (src/identity/caclient.rs {@code fetch_certificate} →
     * src/tls/certificate.rs {@code WorkloadCertificate::new}, which checks no dates); until 5 December this answer check
     * refused it, and every retry got a leaf just as far ahead, so the node had no identity while the skew lasted
     * (helper 253).
     */
    /**
     * The other way round, a CA a whole TTL behind: the leaf has expired when it arrives. ztunnel stores it (no date is
     * checked) and asks again at once, its refresh point being past; here the answer is refused, and the manager retries
     * it on its backoff (the module README).
     */
    @Test
    void aLeafExpiredOnArrivalIsRefused() throws Exception {
        Instant now = Instant.now();
        InMemoryCa istiod = InMemoryCa.builder().trustDomain("cluster.local")
                .clock(Clock.fixed(now.minus(Duration.ofHours(25)), ZoneOffset.UTC)).build();
        try {
            SpiffeId id = SpiffeIds.parse("spiffe://cluster.local/ns/shop/sa/cart");
            KeyPair keys = X509.newP256();
            List<String> pems = new ArrayList<>();
            for (X509Certificate c : istiod.signCsr(Csr.create(keys, id), Duration.ofHours(24))) {
                pems.add(Pem.certificates(List.of(c)));
            }
            pems.add(Pem.certificates(List.of(istiod.root())));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> IstioCaResponses.toSvid(id, keys,
                    new IstioCaMessages.CertificateResponse(pems, List.of()), List.of(istiod.root()), now))
                    .isInstanceOf(java.security.cert.CertificateExpiredException.class);
        } finally {
            istiod.close();
        }
    }

    @Test
    void aLeafFromACaWhoseClockIsAheadIsTaken() throws Exception {
        Instant now = Instant.now();
        InMemoryCa istiod = InMemoryCa.builder().trustDomain("cluster.local")
                .clock(Clock.fixed(now.plus(Duration.ofMinutes(3)), ZoneOffset.UTC)).build();
        try {
            SpiffeId id = SpiffeIds.parse("spiffe://cluster.local/ns/shop/sa/cart");
            KeyPair keys = X509.newP256();
            List<X509Certificate> chain = istiod.signCsr(Csr.create(keys, id), Duration.ofHours(24));
            assertThat(chain.get(0).getNotBefore().toInstant()).as("NotBefore, in this node's future").isAfter(now);
            List<String> pems = new ArrayList<>();
            for (X509Certificate c : chain) {
                pems.add(Pem.certificates(List.of(c)));
            }
            pems.add(Pem.certificates(List.of(istiod.root())));
            X509Svid svid = IstioCaResponses.toSvid(id, keys, new IstioCaMessages.CertificateResponse(pems, List.of()),
                    List.of(istiod.root()), now);
            assertThat(svid.getSpiffeId()).isEqualTo(id);
        } finally {
            istiod.close();
        }
    }
}
