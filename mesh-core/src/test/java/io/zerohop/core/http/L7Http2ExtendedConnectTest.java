package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The HTTP/2 {@code :protocol} pseudo-header (RFC 8441's extended CONNECT, RFC 9220's WebSocket over HTTP/2) exists only
 * on a connection whose server sent {@code SETTINGS_ENABLE_CONNECT_PROTOCOL = 1} (RFC 8441 section 3, "an endpoint ...
 * MUST NOT" send it otherwise; RFC 9113 section 8.3: a request with an undefined pseudo-header field is malformed). zerohop
 * never advertises it, nor does Envoy where istiod configures it ({@code Http2ProtocolOptions.allow_connect} unset), and
 * both codec libraries under Envoy refuse {@code :protocol} without it: nghttp2 ({@code lib/nghttp2_http.c}, the stream
 * flag {@code NGHTTP2_STREAM_FLAG_EXTENDED_CONNECT_ALLOWED} set only when the local settings enable it) and oghttp2
 * (google/quiche {@code quiche/http2/adapter/header_validator.cc}, {@code :protocol} only after {@code AllowConnect()});
 * hyperium/h2 the same ({@code src/proto/streams/recv.rs}: "cannot use :protocol if extended connect protocol is
 * disabled", a stream reset with PROTOCOL_ERROR). Netty's codec checks none of this. Until 6 December such a stream was
 * decided as method {@code CONNECT} and forwarded with its {@code :protocol}: a DENY on {@code methods: [GET]} for
 * {@code /deny/*} let {@code CONNECT :protocol websocket :path /deny/a} through to an application that takes extended
 * CONNECT (Node's {@code http2} with {@code enableConnectProtocol}), which Envoy would have reset, or, where allowed,
 * read as {@code GET} with {@code Upgrade: websocket} ({@code Utility::transformUpgradeRequestFromH2toH1}) and denied.
 */
@Timeout(120)
class L7Http2ExtendedConnectTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-get, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {methods: ["GET"], paths: ["/deny/*"]}}]
            """;

    @Test
    void aProtocolPseudoHeaderIsResetAsEnvoysCodecResetsIt() throws Exception {
        L7Http2Test.withEchoApp(InetAddress.getByName("127.0.153.2"), "h2-xconnect", POLICY, via -> {
            assertThat(RawH2c.send(via, request("GET", "/deny/a"))).isEqualTo("403 RBAC: access denied");
            for (String protocol : new String[] {"websocket", "foo"}) {
                Http2Headers h = request("CONNECT", "/deny/a").set(":protocol", protocol);
                assertThat(RawH2c.send(via, h)).as(protocol).isEqualTo("reset PROTOCOL_ERROR");
            }
            assertThat(RawH2c.send(via, request("CONNECT", "/deny/a"))).as("CONNECT with :path and :scheme, RFC 9113 section 8.5")
                    .isEqualTo("reset PROTOCOL_ERROR");
            Http2Headers allowedPath = request("CONNECT", "/open").set(":protocol", "websocket");
            assertThat(RawH2c.send(via, allowedPath)).as("whatever the policy").isEqualTo("reset PROTOCOL_ERROR");
            assertThat(RawH2c.send(via, request("GET", "/open"))).isEqualTo("200 GET /open\n");
        });
    }

    /**
     * A plain HTTP/2 CONNECT (RFC 9113 section 8.5: {@code :method} and {@code :authority} only, no {@code :path}): well
     * formed, so not reset as above, but zerohop forwards requests, not tunnels, and answers it 400 {@code invalid :path}
     * before any policy. Its access line said {@code path="null"} (the absent {@code :path} through
     * {@code String.valueOf}) and gave no reason; it now says {@code path="-"} and names the CONNECT, as the line writes every absent field and as Envoy's access
     * log writes an absent {@code %REQ(:PATH)%} (a new-user pass, helper 303).
     */
    @Test
    void aPlainConnectIsAnswered400AndLoggedWithoutAPath() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.156.5");
        io.netty.channel.EventLoopGroup loop = io.zerohop.hbone.internal.Transports.newGroup(1, "h2-plain-connect");
        try {
            io.netty.channel.Channel app = RawH2c.echoApp(loop, new InetSocketAddress(ip, 50220));
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(50220, AppProtocol.HTTP2));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build();
                    io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 50221), new InetSocketAddress(ip, 50220)));
                Http2Headers plain = new DefaultHttp2Headers(false).method("CONNECT").authority("backend:80");
                assertThat(RawH2c.send(via, plain)).isEqualTo("400 invalid :path");
                String line = err.awaitLine("plaintext-inbound-http", " method=CONNECT ");
                assertThat(line).contains(" path=\"-\" ").contains(" status=400 ").doesNotContain("null")
                        .contains(" reason=\"CONNECT without :path (RFC 9113 section 8.5) asks for a tunnel");
            } finally {
                app.close().syncUninterruptibly();
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    static Http2Headers request(String method, String path) {
        return new DefaultHttp2Headers(false).method(method).path(path).scheme("http").authority("backend");
    }
}
