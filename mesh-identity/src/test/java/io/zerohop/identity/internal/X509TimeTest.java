package io.zerohop.identity.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Certificate;
import org.bouncycastle.asn1.x509.Time;
import org.junit.jupiter.api.Test;

/**
 * Validity times are encoded from the instant without SimpleDateFormat; these are the bytes
 * BouncyCastle's {@code Time(Date)} wrote before (UTCTime for 1950–2049, GeneralizedTime otherwise,
 * RFC 5280 section 4.1.2.5), so a certificate reads back the same.
 */
class X509TimeTest {

    @Test
    void validityIsEncodedAsBouncyCastleEncodedIt() throws Exception {
        KeyPair key = X509.newP256();
        Instant[][] pairs = {
            {Instant.parse("2026-12-01T21:30:02.651Z"), Instant.parse("2026-12-02T21:30:02.999Z")},
            {Instant.parse("1950-01-01T00:00:00Z"), Instant.parse("2049-12-31T23:59:59.999Z")},
            {Instant.parse("1949-12-31T23:59:59Z"), Instant.parse("2050-01-01T00:00:00.001Z")},
            {Instant.parse("2000-02-29T12:00:00Z"), Instant.parse("9999-12-31T23:59:59Z")},
        };
        for (Instant[] p : pairs) {
            X509Certificate cert = selfSigned(key, p[0], p[1]);
            Certificate parsed = Certificate.getInstance(cert.getEncoded());
            assertArrayEquals(new Time(Date.from(p[0])).toASN1Primitive().getEncoded(), parsed.getStartDate().toASN1Primitive().getEncoded(),
                    p[0].toString());
            assertArrayEquals(new Time(Date.from(p[1])).toASN1Primitive().getEncoded(), parsed.getEndDate().toASN1Primitive().getEncoded(),
                    p[1].toString());
            assertEquals(p[0].getEpochSecond() * 1000, cert.getNotBefore().getTime());
            assertEquals(p[1].getEpochSecond() * 1000, cert.getNotAfter().getTime());
        }
        // The encodings themselves, so that the test does not only compare the new code with BouncyCastle.
        Certificate c = Certificate.getInstance(selfSigned(key, Instant.parse("2026-12-01T21:30:02.651Z"),
                Instant.parse("2050-01-01T00:00:00Z")).getEncoded());
        assertEquals("261201213002Z", ascii(c.getStartDate()));
        assertEquals("20500101000000Z", ascii(c.getEndDate()));
    }

    private static X509Certificate selfSigned(KeyPair key, Instant from, Instant to) {
        return X509.sign(new X500Name("CN=time"), key.getPublic(), null, key.getPrivate(), List.of(), true, false, from, to);
    }

    /** The time's text: its DER encoding after the tag and length bytes. */
    private static String ascii(Time t) throws Exception {
        byte[] der = t.toASN1Primitive().getEncoded();
        return new String(der, 2, der.length - 2, StandardCharsets.US_ASCII);
    }
}
