package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.IssuedCertificate;
import io.zerohop.identity.LeafSpec;
import io.zerohop.identity.Pem;
import io.zerohop.identity.PemFileIdentityProvider;
import io.zerohop.identity.SvidVerifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The start's purpose check of a PEM identity takes an own SVID whose NotBefore is still ahead as of that NotBefore, as
 * the provider takes it (an issuer whose clock runs ahead): {@code connect} refused what {@code proxy} served (helper 257,
 * 9a6e66e6). No test named it: with the check made as of now every test passed (helper 268).
 */
class PurposeCheckNotBeforeTest {
    @Test
    void anSvidWhoseNotBeforeIsAheadPassesThePurposeCheck(@TempDir Path dir) throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try {
            Instant now = Instant.now();
            IssuedCertificate cert = ca.issue(LeafSpec.svid("spiffe://cluster.local/ns/prod/sa/cli", now.plus(Duration.ofMinutes(10)),
                    now.plus(Duration.ofHours(1))));
            Path chain = Files.writeString(dir.resolve("cert.pem"), cert.chainPem());
            Files.writeString(dir.resolve("key.pem"), cert.keyPem());
            Files.writeString(dir.resolve("bundle.pem"), Pem.certificates(List.of(ca.root())));
            PemFileIdentityProvider ids = PemFileIdentityProvider.builder().certificateChain(chain).privateKey(dir.resolve("key.pem"))
                    .trustBundle(dir.resolve("bundle.pem")).watch(false).build();
            try {
                assertThat(Cli.purposeProblem(ids, chain, SvidVerifier.Purpose.CLIENT_AUTH)).isNull();
                assertThat(Cli.purposeProblem(ids, chain, SvidVerifier.Purpose.SERVER_AUTH)).isNull();
            } finally {
                ids.close();
            }
        } finally {
            ca.close();
        }
    }
}
