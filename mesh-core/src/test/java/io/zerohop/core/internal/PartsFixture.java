package io.zerohop.core.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * One registry and policy set for the unit tests of Mesh's parts (no sockets, no event loops): a
 * node "a" with backend (port 8080 TCP-level, 8081 declared http) and frontend, a workload on node
 * "b", and a plaintext ({@code protocol: TCP}) database.
 */
final class PartsFixture {
    static final String POLICIES = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-allow, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {ports: ["8080"]}}]
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {ports: ["8081"], paths: ["/api/*"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: deny-frontend-dry-run
              namespace: prod
              annotations: {"istio.io/dry-run": "true"}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: strict, namespace: secure}
            spec: {mtls: {mode: STRICT}}
            """;

    static final InetAddress BACKEND_IP = ip("10.1.0.2");
    static final InetAddress FRONTEND_IP = ip("10.1.0.3");
    static final InetAddress REMOTE_IP = ip("10.2.0.2");
    static final InetAddress DB_IP = ip("10.1.0.9");
    static final InetAddress VAULT_IP = ip("10.1.0.7");
    static final InetAddress UNKNOWN_IP = ip("10.9.9.9");

    static final Workload BACKEND = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(BACKEND_IP),
            Workload.Protocol.HBONE, "a", "cluster.local", Map.of(8081, AppProtocol.HTTP));
    static final Workload FRONTEND = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
            List.of(FRONTEND_IP), Workload.Protocol.HBONE, "a", "cluster.local");
    static final Workload REMOTE = new Workload("prod", "reports", "reports", Map.of("app", "reports"), List.of(REMOTE_IP),
            Workload.Protocol.HBONE, "b", "cluster.local");
    static final Workload DB = new Workload("prod", "db", "db", Map.of("app", "db"), List.of(DB_IP),
            Workload.Protocol.TCP, "a", "cluster.local");
    static final Workload VAULT = new Workload("secure", "vault", "vault", Map.of("app", "vault"), List.of(VAULT_IP),
            Workload.Protocol.HBONE, "a", "cluster.local");
    static final SpiffeId LEGACY = SpiffeId.parse("spiffe://cluster.local/ns/legacy/sa/old");

    final WorkloadRegistry registry = WorkloadRegistry.of(List.of(BACKEND, FRONTEND, REMOTE, DB, VAULT),
            Map.of("b", new InetSocketAddress(ip("192.168.0.2"), 15008)));
    final LocalWorkloads local = new LocalWorkloads(registry, "a");
    final OwnPorts ownPorts = new OwnPorts();
    final PolicyEngine engine;
    final RateLimitedLog refusals = new RateLimitedLog(LoggerFactory.getLogger("io.zerohop.core.Mesh"), "refusals", 20,
            Duration.ofSeconds(10));
    final PolicyAuthorizer authorizer;
    final HttpEnforcement http;

    PartsFixture() {
        try {
            engine = PolicyEngine.builder().policies(PolicyLoader.fromString("parts.yaml", POLICIES)).build();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        authorizer = new PolicyAuthorizer(engine, registry, refusals);
        // No event loops: the resolve phase only builds handlers, it never runs them.
        http = new HttpEnforcement(engine, null, null, new TunnelSource(registry, refusals), 5_000);
    }

    static AuthzRequest connect(SpiffeId peer, InetAddress peerIp, InetSocketAddress dst, SpiffeId localIdentity) {
        return new AuthzRequest(peer, new InetSocketAddress(peerIp, 40000), localIdentity, dst, Map.of());
    }

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
