package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.internal.X509;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Test;

/**
 * The CSR zerohop sends to istiod (and the in-memory CA signs) is ztunnel's: an empty subject and the SPIFFE ID as its
 * one URI SAN, marked critical (istio/ztunnel src/tls/csr.rs, the BoringSSL build: {@code SubjectAlternativeName::new()
 * .uri(..).critical()}; RFC 5280 4.2.1.6 requires a critical SAN when the subject is empty). Until 5 December it was
 * non-critical.
 */
class CsrTest {
    @Test
    void theSanIsTheOneCriticalUriOfAnEmptySubject() throws Exception {
        SpiffeId id = SpiffeIds.istio("cluster.local", "prod", "web");
        PKCS10CertificationRequest csr = new PKCS10CertificationRequest(Csr.create(X509.newP256(), id));
        assertThat(csr.getSubject().getRDNs()).isEmpty();
        Extension san = csr.getRequestedExtensions().getExtension(Extension.subjectAlternativeName);
        assertThat(san).isNotNull();
        assertThat(san.isCritical()).as("critical").isTrue();
        assertThat(Csr.parse(csr.getEncoded()).spiffeId()).isEqualTo(id);
    }
}
