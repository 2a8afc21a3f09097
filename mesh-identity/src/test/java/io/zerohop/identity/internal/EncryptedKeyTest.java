package io.zerohop.identity.internal;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.GeneralSecurityException;
import org.junit.jupiter.api.Test;

/**
 * An encrypted private key (PKCS#8 ENCRYPTED PRIVATE KEY, or a traditional one with Proc-Type: 4,ENCRYPTED; both made
 * with openssl 3.0, password "secret") is named as such. A new-user pass got "no PRIVATE KEY, EC PRIVATE KEY or RSA
 * PRIVATE KEY block found" beside the ENCRYPTED block. No password is taken (ztunnel, cert-manager and Vault agent
 * files are unencrypted).
 */
class EncryptedKeyTest {
    static final String PKCS8 = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAj1eyA2IBDRqwICCAAw\nDAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEENsT2gzjgsKpjAQxrMaRrx0EgZCz\nSysUbCTiFBxxDER7rGEkna9g0XR/4IZjolF4kjZ2d/izTIdLNBVm27fZnLncq2SE\nXbdVWm05sbEcuLtiZiuDodCUAEbdeaICupKpynq1IMgh1IYSqQi04o6soa//pJ2E\nP5KCXF9G5f63zqfd0Xzv3uurNzK2dCgdnr/mn+dZ/WxzrzZ+r1miYZGNdhXILi0=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    static final String TRADITIONAL = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,12D8C545D3BCFCF407D61067BE11A3C5\n\nqQpbhHZT6G7xRt6H+uExO0vHi7ziePKcipaV/u8rDpVLZw9IXDel2hjhNHdu7h/l\nUv19I/oTS+JAA1j1GK/YoBiIHJa1Ti522tHK5ZxNC9VfPwD8vafnIfyVRZnjV29d\nSGTnjJ16btYFCzx1pArLMY3yTd76C6rKKPrk9uiHPuU=\n-----END EC PRIVATE KEY-----\n";

    @Test
    void anEncryptedKeyIsNamedAsSuch() {
        for (String pem : new String[] {PKCS8, TRADITIONAL}) {
            assertThatThrownBy(() -> Svids.parsePrivateKey(pem)).isInstanceOf(GeneralSecurityException.class)
                    .hasMessageStartingWith("the private key is encrypted (ENCRYPTED PRIVATE KEY, or Proc-Type: 4,ENCRYPTED):"
                            + " give it unencrypted");
        }
    }
}
