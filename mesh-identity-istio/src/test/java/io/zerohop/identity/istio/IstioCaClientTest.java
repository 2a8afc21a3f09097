package io.zerohop.identity.istio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import io.grpc.Metadata;
import io.grpc.Status;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.Csr;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.identity.SvidVerifier;
import io.zerohop.identity.istio.internal.IstioCaMessages;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateRequest;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateResponse;
import io.zerohop.testing.FakeIstioCa;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IstioCaClientTest {
    private static final SpiffeId ID = SpiffeIds.istio("cluster.local", "shop", "cart");
    private static final Metadata.Key<String> AUTH = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> CLUSTER = Metadata.Key.of("clusterid", Metadata.ASCII_STRING_MARSHALLER);

    private static InMemoryCa ca;
    private static FakeIstioCa server;

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    private Path tokenFile;
    private IstioCaClient client;

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        server = new FakeIstioCa(ca, "token-1", Files.createDirectory(shared.resolve("tls")));
        // The pod token-1 belongs to: istiod names ID in the certificate because the token is cart's.
        server.caller(CART);
    }

    static final FakeIstioCa.Pod CART = new FakeIstioCa.Pod("shop", "cart-7d9f", "uid-cart", "cart", "node-a");
    static final FakeIstioCa.Pod ZTUNNEL = new FakeIstioCa.Pod("istio-system", "ztunnel-x2k", "uid-zt", "ztunnel", "node-a");

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @BeforeEach
    void token() throws Exception {
        tokenFile = dir.resolve("istio-token");
        Files.writeString(tokenFile, "token-1\n");
        server.expectToken("token-1");
        server.tamper(r -> r);
        server.failWith(null);
        server.nodeAuthorization(null);
    }

    @AfterEach
    void closeClient() {
        if (client != null) {
            client.close();
        }
    }

    private IstioCaClient.Builder tls() {
        return IstioCaClient.builder().address("127.0.0.1", server.port())
                .caCertificates(List.of(ca.root())).authority(FakeIstioCa.SERVER_NAME)
                .tokenFile(tokenFile);
    }

    private Throwable failure(IstioCaClient c, SpiffeId id) {
        return assertThatThrownBy(() -> c.issue(id).get(20, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).actual().getCause();
    }

    @Test
    void issuesOverTlsWithBearerTokenAndClusterId() throws Exception {
        client = tls().clusterId("Kubernetes").validity(Duration.ofHours(2)).build();

        X509Svid svid = client.issue(ID).get(20, TimeUnit.SECONDS);

        assertThat(svid.getSpiffeId()).isEqualTo(ID);
        assertThat(svid.getChain()).as("leaf and intermediate; the root Istio appends is dropped").hasSize(2)
                .doesNotContain(ca.root());
        assertThat(SvidVerifier.verify(svid.getChainArray(), ca.bundles())).isEqualTo(ID);
        FakeIstioCa.Seen seen = server.seen().get(server.seen().size() - 1);
        assertThat(seen.headers().get(AUTH)).isEqualTo("Bearer token-1");
        assertThat(seen.headers().get(CLUSTER)).isEqualTo("Kubernetes");
        assertThat(seen.request().validityDurationSeconds()).isEqualTo(7200);
        assertThat(seen.request().metadata()).as("no impersonation unless asked").isNull();
        assertThat(Csr.parse(Csr.fromPem(seen.request().csr())).spiffeId()).isEqualTo(ID);
        long lifetime = svid.getLeaf().getNotAfter().getTime() - svid.getLeaf().getNotBefore().getTime();
        assertThat(Duration.ofMillis(lifetime)).isBetween(Duration.ofHours(2), Duration.ofHours(2).plusMinutes(2));
    }

    /**
     * {@code validity(Duration.ZERO)} sends {@code validity_duration} 0, as ztunnel does for a {@code SECRET_TTL} under one
     * second (istio/ztunnel src/identity/manager.rs: {@code secret_ttl.as_secs()}), and istiod signs for its default
     * ({@code DEFAULT_WORKLOAD_CERT_TTL}, 24 h; istio/istio security/pkg/pki/ca/ca.go {@code sign}). It was refused.
     */
    @Test
    void aZeroValidityAsksForTheCasDefault() throws Exception {
        client = tls().validity(Duration.ZERO).build();
        X509Svid svid = client.issue(ID).get(20, TimeUnit.SECONDS);
        FakeIstioCa.Seen seen = server.seen().get(server.seen().size() - 1);
        assertThat(seen.request().validityDurationSeconds()).isZero();
        long lifetime = svid.getLeaf().getNotAfter().getTime() - svid.getLeaf().getNotBefore().getTime();
        assertThat(Duration.ofMillis(lifetime)).isBetween(FakeIstioCa.DEFAULT_CERT_TTL, FakeIstioCa.DEFAULT_CERT_TTL.plusMinutes(2));
    }

    @Test
    void everyRequestHasAFreshKey() throws Exception {
        client = tls().build();
        X509Svid a = client.issue(ID).get(20, TimeUnit.SECONDS);
        X509Svid b = client.issue(ID).get(20, TimeUnit.SECONDS);
        assertThat(a.getLeaf().getPublicKey()).isNotEqualTo(b.getLeaf().getPublicKey());
        assertThat(a.getPrivateKey().getAlgorithm()).isEqualTo("EC");
    }

    @Test
    void tokenFileIsReadForEveryRequest() throws Exception {
        client = tls().build();
        client.issue(ID).get(20, TimeUnit.SECONDS);

        Files.writeString(tokenFile, "token-2");
        server.expectToken("token-2");
        client.issue(ID).get(20, TimeUnit.SECONDS);

        assertThat(server.seen().get(server.seen().size() - 1).headers().get(AUTH)).isEqualTo("Bearer token-2");
    }

    @Test
    void unauthenticatedIsExplained() throws Exception {
        server.expectToken("something-else");
        client = tls().build();

        Throwable t = failure(client, ID);
        assertThat(t).isInstanceOf(IstioCaClient.CaException.class)
                .hasMessageContaining("UNAUTHENTICATED").hasMessageContaining(tokenFile.toString())
                .hasMessageContaining(ID.toString());
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("UNAUTHENTICATED");
    }

    @Test
    void missingTokenFileFailsTheFutureWithoutCallingTheCa() throws Exception {
        int before = server.seen().size();
        client = tls().tokenFile(dir.resolve("absent")).build();

        assertThat(failure(client, ID)).isInstanceOf(IstioCaClient.CaException.class)
                .hasMessageContaining(dir.resolve("absent").toString());
        assertThat(server.seen()).hasSize(before);
    }

    @Test
    void impersonationSendsTheIdentityAsMetadata() throws Exception {
        client = tls().impersonate(true).build();
        SpiffeId other = SpiffeIds.istio("cluster.local", "shop", "checkout");
        // istiod lets a trusted node account ask for a service account with a pod on its node (node_auth.go).
        server.nodeAuthorization(new FakeIstioCa.NodeAuthorization(java.util.Set.of("istio-system/ztunnel"), ZTUNNEL,
                List.of(ZTUNNEL, new FakeIstioCa.Pod("shop", "checkout-5c4b", "uid-co", "checkout", "node-a"))));

        assertThat(client.issue(other).get(20, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(other);
        Struct md = server.seen().get(server.seen().size() - 1).request().metadata();
        assertThat(md.getFieldsOrThrow("ImpersonatedIdentity").getStringValue()).isEqualTo(other.toString());
    }

    @Test
    void certificateForAnotherIdentityIsRejected() throws Exception {
        X509Svid wrong = ca.issue(SpiffeIds.istio("cluster.local", "shop", "evil"));
        // As istiod answers: one certificate per element, the root bundle last.
        List<String> elements = new java.util.ArrayList<>();
        wrong.getChain().forEach(c -> elements.add(Pem.certificates(List.of(c))));
        elements.add(Pem.certificates(List.of(ca.root())));
        server.tamper(r -> new FakeIstioCa.Response(elements, List.of()));
        client = tls().build();

        Throwable t = failure(client, ID);
        assertThat(t).isInstanceOf(IstioCaClient.CaException.class).hasMessageContaining("not the requested " + ID);
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isNull();
    }

    /**
     * A lone leaf, signed straight by a mesh root: ztunnel refuses it (istio/ztunnel src/identity/caclient.rs
     * {@code fetch_certificate} warns "no chain certs for: <id>", then src/tls/certificate.rs
     * {@code WorkloadCertificate::new} fails with "no root certificate present"; its test {@code empty_chain} covers
     * the empty answer only). Until 6 December zerohop took it, since the leaf verifies against the root file.
     */
    @Test
    void aLoneLeafIsRefusedAsZtunnelRefusesIt() throws Exception {
        InMemoryCa direct = InMemoryCa.create("cluster.local"); // no intermediate: its leaves chain to its root alone
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            java.util.concurrent.atomic.AtomicBoolean withRoot = new java.util.concurrent.atomic.AtomicBoolean();
            server.tamper(r -> {
                try {
                    X509Certificate leaf = direct.signCsr(Csr.fromPem(server.seen().get(server.seen().size() - 1).request().csr()),
                            ID, Duration.ofHours(1)).get(0);
                    return new FakeIstioCa.Response(withRoot.get()
                            ? List.of(Pem.certificates(List.of(leaf)), Pem.certificates(List.of(direct.root())))
                            : List.of(Pem.certificates(List.of(leaf))), List.of());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            client = tls().meshRoots(List.of(direct.root())).build();

            Throwable t = failure(client, ID);
            assertThat(t).isInstanceOf(IstioCaClient.CaException.class).hasMessageContaining("no root certificate present")
                    .hasMessageContaining("cert_chain has one element (1 certificate in it)");
            assertThat(((IstioCaClient.CaException) t).grpcStatus()).isNull();
            assertThat(err.awaitLine("WARN", "no chain certs for: " + ID)).isNotNull();

            // Control: the same leaf with the root in an element of its own, as istiod sends it, is taken.
            withRoot.set(true);
            assertThat(client.issue(ID).get(20, TimeUnit.SECONDS).getChain()).hasSize(1);
        } finally {
            direct.close();
        }
    }

    /**
     * Leaf, intermediate and root in one PEM string, the answer's only element: ztunnel reads the leaf from it
     * (src/tls/certificate.rs {@code parse_cert}, the first PEM block) and then has no root element, so it refuses
     * the answer as a lone leaf (caclient.rs {@code fetch_certificate}, certificate.rs {@code WorkloadCertificate::new}).
     * istiod splits every element it sends into one certificate each and appends the root bundle as the last
     * (istio/istio security/pkg/server/ca/server.go {@code CreateCertificate}: "the expanded structure ... is
     * specifically expected by ztunnel"). Until 6 December zerohop took it.
     */
    @Test
    void aWholeChainInOnePemStringIsRefusedAsZtunnelRefusesIt() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            server.tamper(r -> new FakeIstioCa.Response(List.of(String.join("", r.certChain())), List.of()));
            client = tls().build();

            Throwable t = failure(client, ID);
            assertThat(t).isInstanceOf(IstioCaClient.CaException.class).hasMessageContaining("no root certificate present")
                    .hasMessageContaining("cert_chain has one element (3 certificates in it)");
            assertThat(err.awaitLine("WARN", "no chain certs for: " + ID)).isNotNull();

            // Control: the fake's own answer, istiod's layout (leaf, intermediate, root), is taken.
            server.tamper(r -> r);
            assertThat(client.issue(ID).get(20, TimeUnit.SECONDS).getChain()).hasSize(2);
        }
    }

    /**
     * The single-element refusal leaves every multi-element shape a real CA sends alone (new-user pass, helper 275):
     * <ul>
     * <li>istiod with a plugged-in CA: {@code cert-chain.pem} holds the intermediate and the root, which istiod flattens
     * one certificate per element, then appends its root bundle (istio/istio security/pkg/server/ca/server.go
     * {@code CreateCertificate}): leaf, intermediate, root, root;
     * <li>cert-manager istio-csr before its chain parsing (cert-manager/istio-csr pkg/server/server.go, early versions:
     * {@code []string{cr.Status.Certificate, cr.Status.CA}}): leaf and intermediate in one PEM element, then the CA;
     * <li>istio-csr now ({@code parseCertificateBundle}): one certificate per element, then its root CAs as one PEM
     * bundle, two roots during a root rotation.
     * </ul>
     * Each is taken, its SVID chain leaf and intermediate.
     */
    @Test
    void pluggedInCaAndIstioCsrShapesAreTaken() throws Exception {
        InMemoryCa other = InMemoryCa.create("cluster.local");
        try {
            String root = Pem.certificates(List.of(ca.root()));
            List<java.util.function.Function<List<String>, List<String>>> shapes = List.of(
                    c -> List.of(c.get(0), c.get(1), root, root),
                    c -> List.of(c.get(0) + c.get(1), root),
                    c -> List.of(c.get(0), c.get(1), root + Pem.certificates(List.of(other.root()))));
            client = tls().build();
            for (int i = 0; i < shapes.size(); i++) {
                var shape = shapes.get(i);
                server.tamper(r -> new FakeIstioCa.Response(shape.apply(r.certChain()), List.of()));
                X509Svid svid = client.issue(ID).get(20, TimeUnit.SECONDS);
                assertThat(svid.getChain()).as("shape " + i).hasSize(2);
                assertThat(svid.getSpiffeId()).as("shape " + i).isEqualTo(ID);
            }
        } finally {
            other.close();
        }
    }

    @Test
    void certificateFromAnotherRootIsRejectedEvenIfTheCaSendsThatRoot() throws Exception {
        InMemoryCa rogue = InMemoryCa.create("cluster.local");
        server.tamper(r -> {
            try {
                List<java.security.cert.X509Certificate> signed = rogue.signCsr(
                        Csr.fromPem(server.seen().get(server.seen().size() - 1).request().csr()), Duration.ofHours(1));
                return new FakeIstioCa.Response(List.of(Pem.certificates(signed), Pem.certificates(List.of(rogue.root()))),
                        List.of(Pem.certificates(List.of(rogue.root()))));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        client = tls().build();

        assertThat(failure(client, ID)).isInstanceOf(IstioCaClient.CaException.class)
                .hasMessageContaining("does not verify");
    }

    @Test
    void unavailableCaIsReported() throws Exception {
        server.failWith(Status.UNAVAILABLE.withDescription("draining"));
        client = tls().build();

        Throwable t = failure(client, ID);
        assertThat(t).hasMessageContaining("unavailable").hasMessageContaining("draining");
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("UNAVAILABLE");
    }

    @Test
    void serverCertificateFromAnUntrustedRootFailsTheHandshake() throws Exception {
        client = IstioCaClient.builder().address("127.0.0.1", server.port())
                .caCertificates(List.of(InMemoryCa.create("cluster.local").root())).meshRoots(List.of(ca.root()))
                .authority(FakeIstioCa.SERVER_NAME).tokenFile(tokenFile).callTimeout(Duration.ofSeconds(10)).build();

        Throwable t = failure(client, ID);
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("UNAVAILABLE");
        assertThat(t.getMessage()).as("gRPC's 'io exception' and what it was").contains("io exception: ");
    }

    /** A new-user pass: a closed port said only "UNAVAILABLE: io exception"; the cause says what happened. */
    @Test
    void anUnreachableCaSaysWhy() throws Exception {
        // Port 1 on an address of its own: nothing listens there, the connect is refused.
        client = IstioCaClient.builder().address("127.0.97.1", 1).caCertificates(List.of(ca.root())).meshRoots(List.of(ca.root()))
                .authority(FakeIstioCa.SERVER_NAME).tokenFile(tokenFile).callTimeout(Duration.ofSeconds(10)).build();
        Throwable t = failure(client, ID);
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("UNAVAILABLE");
        assertThat(t.getMessage()).startsWith("Istio CA at 127.0.97.1:1 is unavailable (UNAVAILABLE: io exception: ")
                .containsIgnoringCase("connection refused");
    }

    /**
     * A CA that accepts TCP and never answers (a listening socket nobody accepts from: the kernel completes the
     * handshake from its backlog) runs out the call's deadline; the message says it as --istio-ca's options are
     * written ({@code 700ms}), not {@code PT0.7S}. No timing is asserted.
     */
    @Test
    void aSilentCaSaysItsDeadlineAsTheOptionsWriteIt() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.97.2"))) {
            client = IstioCaClient.builder().address("127.0.97.2", silent.getLocalPort()).caCertificates(List.of(ca.root()))
                    .meshRoots(List.of(ca.root())).authority(FakeIstioCa.SERVER_NAME).tokenFile(tokenFile)
                    .callTimeout(Duration.ofMillis(700)).build();
            Throwable t = failure(client, ID);
            assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("DEADLINE_EXCEEDED");
            assertThat(t.getMessage()).isEqualTo("Istio CA at 127.0.97.2:" + silent.getLocalPort() + " did not answer within 700ms for " + ID);
        }
        assertThatThrownBy(() -> IstioCaClient.builder().callTimeout(Duration.ZERO)).hasMessage("callTimeout must be positive, got 0s");
        assertThatThrownBy(() -> IstioCaClient.builder().validity(Duration.ofMillis(500)))
                .hasMessage("validity must be at least one second, got 500ms");
    }

    @Test
    void requestWireFormatMatchesCaProtoFieldNumbers() throws Exception {
        Struct md = Struct.newBuilder().putFields("ImpersonatedIdentity", Value.newBuilder().setStringValue("x").build()).build();
        byte[] bytes = IstioCaMessages.REQUEST.stream(new CertificateRequest("CSR", 3600, md)).readAllBytes();

        // Decoded by protobuf's generic parser: field numbers as in istio/api ca.proto.
        UnknownFieldSet fields = UnknownFieldSet.parseFrom(bytes);
        assertThat(fields.asMap().keySet()).containsExactly(1, 3, 4);
        assertThat(fields.getField(1).getLengthDelimitedList().get(0).toStringUtf8()).isEqualTo("CSR");
        assertThat(fields.getField(3).getVarintList()).containsExactly(3600L);
        assertThat(Struct.parseFrom(fields.getField(4).getLengthDelimitedList().get(0))).isEqualTo(md);

        CertificateRequest back = IstioCaMessages.REQUEST.parse(new java.io.ByteArrayInputStream(bytes));
        assertThat(back).isEqualTo(new CertificateRequest("CSR", 3600, md));
    }

    @Test
    void responseParsingReadsChainAndRootsAndSkipsUnknownFields() throws Exception {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(raw);
        out.writeString(1, "leaf");
        out.writeInt64(99, 7); // a field from a future version
        out.writeString(1, "root");
        ByteArrayOutputStream roots = new ByteArrayOutputStream();
        CodedOutputStream r = CodedOutputStream.newInstance(roots);
        r.writeString(1, "r1");
        r.writeString(1, "r2");
        r.flush();
        out.writeByteArray(2, roots.toByteArray());
        out.flush();

        CertificateResponse parsed = IstioCaMessages.RESPONSE.parse(new java.io.ByteArrayInputStream(raw.toByteArray()));
        assertThat(parsed.certChain()).containsExactly("leaf", "root");
        assertThat(parsed.rootCerts()).containsExactly("r1", "r2");
        byte[] again = IstioCaMessages.RESPONSE.stream(parsed).readAllBytes();
        assertThat(IstioCaMessages.RESPONSE.parse(new java.io.ByteArrayInputStream(again))).isEqualTo(parsed);
    }

    @Test
    void builderSaysWhatIsMissing() {
        assertThatThrownBy(() -> IstioCaClient.builder().build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("address").hasMessageContaining("caCertificates").hasMessageContaining("token");
        assertThatThrownBy(() -> IstioCaClient.builder().address("istiod", 0)).hasMessageContaining("port");
        assertThatThrownBy(() -> IstioCaClient.builder().header("Authorization", "x")).hasMessageContaining("tokenFile");
        assertThatThrownBy(() -> IstioCaClient.builder().validity(Duration.ofSeconds(-1))).hasMessage("validity must be positive, got -1s");
        assertThatThrownBy(() -> IstioCaClient.builder().address("istiod", 15012).plaintext().tokenFile(tokenFile).build())
                .hasMessageContaining("meshRoots");
    }

    /**
     * A header no request can carry is refused by {@code header(...)}, where it was taken and then failed every request:
     * a name grpc-java's {@code Metadata.Key.of} refuses ("ASCII header is named x-bin", "Invalid character ' '") threw
     * from each {@code issue(...)}; a connection-specific name (RFC 9113 8.2.2; hyperium/h2's client refuses to send one,
     * src/proto/streams/send.rs {@code check_headers}) had each request reset by the server; a value with a control
     * character is refused by istiod's Go HTTP/2 framer (golang.org/x/net/http2 {@code ValidHeaderFieldValue}), and
     * one past ASCII went out with '?' in its place (grpc-java's ASCII marshaller writes US-ASCII).
     */
    @Test
    void headersNoRequestCanCarryAreRefusedByTheBuilder() {
        for (String name : new String[] {"x-bin", "a b", "a:b", ":authority", "", "caf\u00e9", "Connection", "keep-alive",
                "proxy-connection", "Transfer-Encoding", "upgrade"}) {
            assertThatThrownBy(() -> IstioCaClient.builder().header(name, "v")).as(name)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("header \"" + name + "\": ");
        }
        for (String value : new String[] {"a\nb", "a\u0000", "\u007f", "caf\u00e9"}) {
            assertThatThrownBy(() -> IstioCaClient.builder().header("x-tenant", value)).as(value)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("header \"x-tenant\": the value holds U+");
        }
        IstioCaClient.builder().header("X-Tenant", " blue\tteam ").header("header_baz", "").header("x.y", "~!@#");
    }

    /**
     * grpc-java replaces or drops these on every request (1.80: {@code ClientCallImpl.prepareHeaders},
     * {@code Utils.convertClientHeaders}; a request built with each of them reached {@link FakeIstioCa} with grpc-java's
     * own {@code user-agent}, {@code content-type}, {@code grpc-timeout}, {@code grpc-accept-encoding} and without the
     * others), and ztunnel's tonic drops {@code te}, {@code content-type} and the three response names from a request
     * (tonic/src/metadata/map.rs {@code GRPC_RESERVED_HEADERS}). They were taken and silently not sent as written.
     */
    @Test
    void headersGrpcReservesAreRefusedByTheBuilder() {
        assertThat(IstioCaClient.GRPC_RESERVED_HEADERS).contains("te", "content-type", "grpc-status", "grpc-message",
                "grpc-message-type", "user-agent", "grpc-timeout", "grpc-accept-encoding");
        for (String name : new String[] {"User-Agent", "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
                "content-encoding", "accept-encoding", "content-length", "grpc-status", "grpc-message", "grpc-message-type"}) {
            assertThatThrownBy(() -> IstioCaClient.builder().header(name, "v")).as(name).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("header \"" + name + "\": a name gRPC reserves (IstioCaClient.GRPC_RESERVED_HEADERS): it cannot be sent as written");
        }
        IstioCaClient.builder().header("grpc-tenant", "v").header("x-user-agent", "v");
    }

    /**
     * istiod names the caller, not the CSR (server.go: {@code sans := caller.Identities}): a client
     * asking for another identity without impersonation gets cart's certificate and refuses it.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("istiod signs the caller's identity whatever the CSR asks for (security/pkg/server/ca/server.go)")
    void aCsrForAnotherIdentityGetsTheCallersCertificate() throws Exception {
        client = tls().build();
        SpiffeId other = SpiffeIds.istio("cluster.local", "shop", "checkout");
        assertThat(failure(client, other)).hasMessageContaining(ID.toString()).hasMessageContaining(other.toString());
        assertThat(client.issue(ID).get(20, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(ID);
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a validity above istiod's MAX_WORKLOAD_CERT_TTL (90 days) is INVALID_ARGUMENT (security/pkg/pki/ca/ca.go)")
    void aValidityAboveIstiodsMaximumIsRefused() throws Exception {
        client = tls().validity(Duration.ofDays(91)).build();
        Throwable t = failure(client, ID);
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("INVALID_ARGUMENT");
        assertThat(t).hasMessageContaining("is greater than the max allowed TTL");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("istiod without CA_TRUSTED_NODE_ACCOUNTS refuses any ImpersonatedIdentity (server.go)")
    void impersonationWithoutANodeAuthorizerIsRefused() throws Exception {
        client = tls().impersonate(true).build();
        Throwable t = failure(client, ID);
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("UNAUTHENTICATED");
        assertThat(t).hasMessageContaining(FakeIstioCa.IMPERSONATION_REFUSED);
        assertThat(server.refusals()).last().asString().contains("node authorizer (CA_TRUSTED_NODE_ACCOUNTS) is not configured");
    }

    /** Moved from mesh-identity's CertificateManagerTest with IstioCaClient: the node-mode pairing. */
    @Test
    void worksWithTheCertificateManagerInNodeMode(@TempDir Path tmp) throws Exception {
        InMemoryCa istioCa = InMemoryCa.create("cluster.local");
        Path token = tmp.resolve("token");
        Files.writeString(token, "ztunnel-token");
        try (FakeIstioCa plain = new FakeIstioCa(istioCa, "ztunnel-token", null);
                IstioCaClient c = IstioCaClient.builder().address("127.0.0.1", plain.port()).plaintext()
                        .meshRoots(List.of(istioCa.root())).tokenFile(token).impersonate(true).build();
                CertificateManager m = CertificateManager.builder().issuer(c).trustBundles(istioCa.bundles())
                        .checkInterval(null).build()) {
            SpiffeId x = SpiffeIds.istio("cluster.local", "a", "x");
            SpiffeId y = SpiffeIds.istio("cluster.local", "b", "y");
            plain.nodeAuthorization(new FakeIstioCa.NodeAuthorization(java.util.Set.of("istio-system/ztunnel"), ZTUNNEL, List.of(ZTUNNEL,
                    new FakeIstioCa.Pod("a", "x-1", "u1", "x", "node-a"), new FakeIstioCa.Pod("b", "y-1", "u2", "y", "node-a"))));

            assertThat(m.svid(x).get(10, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(x);
            assertThat(m.svid(y).get(10, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(y);
            assertThat(plain.seen()).hasSize(2);
        } finally {
            istioCa.close();
        }
    }
}
