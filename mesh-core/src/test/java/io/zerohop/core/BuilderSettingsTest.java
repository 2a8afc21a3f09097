package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import org.junit.jupiter.api.Test;

/** newuser23: builder settings that could never work are refused or warned about at once, naming the setting. */
class BuilderSettingsTest {
    /** 100000 was accepted and build() failed with "Too many open files", not naming threads. */
    @Test
    void threadsOutOfRangeAreRefusedNamingTheSetting() {
        assertThatThrownBy(() -> Mesh.builder().threads(100_000)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("threads must be 1-1024").hasMessageEndingWith("got 100000");
        assertThatThrownBy(() -> Mesh.builder().threads(0)).isInstanceOf(IllegalArgumentException.class).hasMessageEndingWith("got 0");
        Mesh.builder().threads(1024);
    }

    /** Accepted silently before: identity() stayed empty and no SVID of example.org could be issued. */
    @Test
    void aTrustDomainOtherThanTheProvidersIsWarnedAboutNamingBoth() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (CapturedStderr err = new CapturedStderr()) {
            try (Mesh m = Mesh.builder().identityProvider(ca).trustDomain("example.org").drain(java.time.Duration.ZERO).threads(1).build()) {
                String line = err.awaitLine("WARN io.zerohop.core.Mesh - trustDomain example.org, but the identity provider");
                assertThat(line).contains("(InMemoryCa) is of cluster.local", "give the same trust domain to both");
            }
            try (Mesh m = Mesh.builder().identityProvider(ca).trustDomain("cluster.local").drain(java.time.Duration.ZERO).threads(1).build()) {
                assertThat(m.identity()).isEmpty();
            }
            assertThat(err.count("give the same trust domain to both")).as("warnings (only the mismatched mesh's)").isEqualTo(1);
        }
    }
}
