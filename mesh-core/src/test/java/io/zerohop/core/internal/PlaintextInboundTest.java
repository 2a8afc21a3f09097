package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.BACKEND_IP;
import static io.zerohop.core.internal.PartsFixture.FRONTEND_IP;
import static io.zerohop.core.internal.PartsFixture.REMOTE_IP;
import static io.zerohop.core.internal.PartsFixture.VAULT;
import static io.zerohop.core.internal.PartsFixture.VAULT_IP;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.MtlsMode;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Plaintext inbound's phases alone, in istio/ztunnel src/proxy/inbound_passthrough.rs
 * {@code proxy_inbound_plaintext}'s order: an illegal (own) port is dropped before anything else,
 * then the local workload, then PeerAuthentication and RBAC with no source identity.
 */
class PlaintextInboundTest {
    final PartsFixture f = new PartsFixture();
    final PlaintextInbound plaintext = new PlaintextInbound(f.local, f.ownPorts, f.engine, f.authorizer, f.http, null,
            f.refusals);
    final InetSocketAddress source = new InetSocketAddress(FRONTEND_IP, 40000);

    @Test
    @DisplayName("ztunnel inbound_passthrough.rs: any own port is an illegal call, even of a local workload")
    void anOwnPortIsDropped() {
        assertThat(plaintext.admit(source, new InetSocketAddress(BACKEND_IP, 15008)).refusal()).hasMessageContaining("self call");
    }

    @Test
    @DisplayName("a late-bound listener's port is dropped at its own address, not at an app's of the same number")
    void aLateBoundListenerCountsAtItsAddressOnly() {
        InetSocketAddress bound = new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 40123);
        f.ownPorts.addListener(new InetSocketAddress(bound.getAddress(), 0), bound, false);
        assertThat(plaintext.admit(source, bound).refusal()).hasMessageContaining("self call");
        assertThat(plaintext.admit(source, new InetSocketAddress(PartsFixture.ip("0.0.0.0"), 40123)).refusal())
                .as("the wildcard reaches the listener").hasMessageContaining("self call");
        PlaintextInbound.Admission a = plaintext.admit(source, new InetSocketAddress(BACKEND_IP, 40123));
        assertThat(a.refusal()).as("backend's own port 40123").isNotNull().satisfies(r ->
                assertThat(r.getMessage()).doesNotContain("self call"));
    }

    @Test
    @DisplayName("a transparent listener takes connections for any address: its port counts everywhere")
    void aTransparentListenerCountsByPort() {
        f.ownPorts.addListener(new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 0),
                new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 40126), true);
        assertThat(plaintext.admit(source, new InetSocketAddress(BACKEND_IP, 40126)).refusal()).hasMessageContaining("self call");
    }

    @Test
    @DisplayName("the capture listener's refusal line says plaintext inbound and names both ends, as this class's own lines")
    void aRefusalLineNamesTheDirectionAndBothEnds() {
        assertThat(plaintext.ends(source, new InetSocketAddress(BACKEND_IP, 8080))).isEqualTo("plaintext inbound "
                + io.zerohop.core.Addresses.authority(source) + " (no identity) -> " + BACKEND_IP.getHostAddress() + ":8080 ("
                + f.local.registry().identityOf(BACKEND) + ")");
        assertThat(plaintext.ends(source, new InetSocketAddress(REMOTE_IP, 80))).isEqualTo("plaintext inbound "
                + io.zerohop.core.Addresses.authority(source) + " (no identity) -> " + REMOTE_IP.getHostAddress()
                + ":80 (not a workload of this node)");
    }

    @Test
    void onlyLocalWorkloadsAreServed() {
        assertThat(plaintext.admit(source, new InetSocketAddress(REMOTE_IP, 80)).refusal()).hasMessageContaining("not a workload of this node");
    }

    @Test
    void strictPeerAuthenticationRefusesPlaintext() {
        assertThat(plaintext.mtlsMode(VAULT, 8200)).isEqualTo(MtlsMode.STRICT);
        assertThat(plaintext.admit(source, new InetSocketAddress(VAULT_IP, 8200)).refusal()).hasMessageContaining("STRICT");
    }

    @Test
    void theL4PolicyDecidesWithoutAPeerIdentity() {
        PlaintextInbound.Admission a = plaintext.admit(source, new InetSocketAddress(BACKEND_IP, 8080));
        assertThat(a.refusal()).as("the ALLOW rule names a principal").hasMessageStartingWith("DENY by prod/backend-allow");
    }

    @Test
    void anHttpPortWithHttpRulesIsAdmittedForPerRequestDecisions() {
        PlaintextInbound.Admission a = plaintext.admit(source, new InetSocketAddress(BACKEND_IP, 8081));
        assertThat(a.refusal()).isNull();
        assertThat(a.perRequest()).isTrue();
        assertThat(a.workload()).isEqualTo(BACKEND);
    }

    @Test
    void withoutAPolicyEngineEveryModeIsPermissiveAndEveryConnectionAdmitted() {
        PlaintextInbound open = new PlaintextInbound(f.local, f.ownPorts, null, null, f.http, null, f.refusals);
        assertThat(open.mtlsMode(VAULT, 8200)).isEqualTo(MtlsMode.PERMISSIVE);
        PlaintextInbound.Admission a = open.admit(source, new InetSocketAddress(VAULT_IP, 8200));
        assertThat(a.refusal()).isNull();
        assertThat(a.perRequest()).isFalse();
    }
}
