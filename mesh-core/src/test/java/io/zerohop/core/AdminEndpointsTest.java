package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 16: readiness as ztunnel's src/readiness/server.rs (200 "ready", 500 "not ready,
 * pending: a, b", 405 for other methods) and the admin /config_dump, over Netty's HTTP codec, asked
 * by the JDK's HTTP client.
 */
class AdminEndpointsTest {
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    HttpResponse<String> send(String method, InetSocketAddress a, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://" + Addresses.authority(a) + path))
                .method(method, HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void readinessWaitsForListenersIdentityAndRegisteredTasks() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, null, "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-frontend, namespace: prod}
                spec:
                  action: ALLOW
                  rules: [{from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]}]
                """)).build();
        try (Mesh mesh = Mesh.builder().identityProvider(ca).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).policies(policy)
                .inbound(new InetSocketAddress(ip, 0)).threads(2).build()) {
            InetSocketAddress ready = mesh.serveHttp(new InetSocketAddress("127.0.0.1", 0), Map.of("/healthz/ready", mesh.readinessHandler()));
            InetSocketAddress admin = mesh.serveHttp(new InetSocketAddress("127.0.0.1", 0),
                    Map.of("/config_dump", r -> HttpEndpoint.Response.json(mesh.configDump(Map.of("policyReload", "loaded")))));
            Runnable policies = mesh.readinessTask("policies");

            HttpResponse<String> r = send("GET", ready, "/healthz/ready");
            assertThat(r.statusCode()).isEqualTo(500);
            assertThat(r.body()).isEqualTo("not ready, pending: listeners, policies\n");

            mesh.start().get(10, TimeUnit.SECONDS);
            policies.run();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while ((r = send("GET", ready, "/healthz/ready")).statusCode() != 200 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("ready\n");
            assertThat(send("POST", ready, "/healthz/ready").statusCode()).isEqualTo(405);
            HttpResponse<String> nothing = send("GET", ready, "/nothing");
            assertThat(nothing.statusCode()).isEqualTo(404);
            // ztunnel's admin, readiness and metrics servers answer an unknown path hyper_util::empty_response(NOT_FOUND).
            assertThat(nothing.body()).isEmpty();
            assertThat(mesh.ownPorts()).contains(ready.getPort(), admin.getPort());

            HttpResponse<String> dump = send("GET", admin, "/config_dump");
            assertThat(dump.statusCode()).isEqualTo(200);
            assertThat(dump.headers().firstValue("content-type")).hasValue("application/json");
            var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dump.body());
            assertThat(json.at("/workloads/0/identity").asText()).isEqualTo(backend.identity().toString());
            // ztunnel's shape where istioctl ztunnel-config reads it (istioctl/pkg/writer/ztunnel/configdump/api.go):
            // a list of policies with name, namespace, action; workloadIps; certChain with a decimal serial.
            assertThat(json.at("/policies").isArray()).isTrue();
            assertThat(json.at("/policies/0/name").asText()).isEqualTo("allow-frontend");
            assertThat(json.at("/policies/0/namespace").asText()).isEqualTo("prod");
            assertThat(json.at("/policies/0/action").asText()).isEqualTo("Allow");
            assertThat(json.at("/policySet/count").asInt()).isEqualTo(1);
            assertThat(json.at("/workloads/0/workloadIps/0").asText()).isEqualTo(ip.getHostAddress());
            assertThat(new java.math.BigInteger(json.at("/certificates/0/certChain/0/serialNumber").asText()).toString(16))
                    .isEqualTo(json.at("/certificates/0/serial").asText());
            assertThat(java.time.Instant.parse(json.at("/certificates/0/certChain/0/expirationTime").asText())).isAfter(java.time.Instant.now());
            assertThat(json.at("/policyReload").asText()).isEqualTo("loaded");
            // ztunnel's state word (src/admin.rs dump_certs: Available / Initializing / Unavailable: ...), which
            // istioctl prints as is; until 2 December "ready". Each certificate with ztunnel's base64 of its PEM
            // (api.go Cert.Pem), and the trust domain's roots as rootCerts.
            assertThat(json.at("/certificates/0/state").asText()).isEqualTo("Available");
            String pem = new String(java.util.Base64.getDecoder().decode(json.at("/certificates/0/certChain/0/pem").asText()),
                    java.nio.charset.StandardCharsets.US_ASCII);
            var leaf = (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(new java.io.ByteArrayInputStream(pem.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
            assertThat(leaf.getSerialNumber().toString(16)).isEqualTo(json.at("/certificates/0/serial").asText());
            assertThat(pem).startsWith("-----BEGIN CERTIFICATE-----\n").endsWith("-----END CERTIFICATE-----\n");
            assertThat(json.at("/certificates/0/rootCerts").size()).as("the trust domain's roots").isPositive();
            assertThat(json.at("/certificates/0/rootCerts/0/pem").asText()).isNotEmpty();
            assertThat(json.at("/certificates/0/serial").asText()).matches("[0-9a-f]+");
            assertThat(java.time.Instant.parse(json.at("/certificates/0/expiry").asText())).isAfter(java.time.Instant.now());
            assertThat(json.at("/ownPorts").toString()).contains(Integer.toString(mesh.inboundAddress().getPort()));
        }
    }
}
