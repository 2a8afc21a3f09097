package io.zerohop.testing;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.zerohop.identity.Csr;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.IssuedCertificate;
import io.zerohop.identity.Pem;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * An in-process {@code istio.v1.auth.IstioCertificateService} on loopback TCP, optionally TLS,
 * signing with an {@link InMemoryCa} and answering leaf first and root last.
 *
 * <p>By default it decides as istiod's {@code CreateCertificate} does (istio/istio
 * security/pkg/server/ca/server.go, pki/ca/ca.go): a wrong token is {@code UNAUTHENTICATED
 * "request authenticate failure"}; the certificate names the caller, the pod the token belongs to
 * ({@link #caller}), whatever SAN the CSR asks for; an {@code ImpersonatedIdentity} is refused
 * unless a node authorizer is configured ({@link #nodeAuthorization}) and allows it; a requested
 * validity above 90 days (istiod's {@code MAX_WORKLOAD_CERT_TTL}) is {@code INVALID_ARGUMENT}, none
 * at all gets 24 hours ({@code DEFAULT_WORKLOAD_CERT_TTL}); signing failures are {@code "CSR signing error (...)"},
 * {@code INVALID_ARGUMENT} for an unreadable CSR or a bad signature (checked before the validity), {@code INTERNAL}
 * once the CA's signing certificate has expired (pki/error/error.go {@code HTTPErrorCode}). {@link #lenient} turns that off for a
 * test that only needs certificates: the CSR's own SAN is signed for any valid token, and any
 * identity may be impersonated.
 *
 * <p>The messages of istio/api {@code security/v1alpha1/ca.proto} are read and written with
 * protobuf's generic wire API ({@link UnknownFieldSet}), not with mesh-identity-istio's codec:
 * the fake is an independent peer, so a wrong field number in the client fails the client's
 * tests instead of being mirrored here. (It also keeps this artifact below mesh-identity-istio,
 * whose tests use it.)
 */
public final class FakeIstioCa implements AutoCloseable {
    public static final String SERVER_NAME = "istiod.istio-system.svc";
    /** ca.proto's service and method, as on the wire. */
    public static final String METHOD = "istio.v1.auth.IstioCertificateService/CreateCertificate";

    /**
     * {@code IstioRequest}: fields 1 ({@code csr}), 3 ({@code validity_duration},
     * seconds) and 4 ({@code metadata}, {@code null} when absent).
     */
    public record Request(String csr, long validityDurationSeconds, Struct metadata) {}

    /**
     * {@code IstioResponse}: field 1 ({@code cert_chain}, leaf first) and, when
     * {@code rootCerts} is not empty, field 2 ({@code Roots root_cert}, whose field 1 is
     * {@code ca_cert}).
     */
    public record Response(List<String> certChain, List<String> rootCerts) {
        public Response {
            certChain = List.copyOf(certChain);
            rootCerts = List.copyOf(rootCerts);
        }
    }

    /** What the server saw for one call. */
    public record Seen(Metadata headers, Request request) {}

    /** A pod as istiod's node authorizer sees it: metadata namespace, name and uid; spec serviceAccountName and nodeName. */
    public record Pod(String namespace, String name, String uid, String serviceAccount, String node) {}

    /**
     * istiod's node authorizer, which decides whether a caller may ask for another identity through
     * the {@code ImpersonatedIdentity} request metadata (ztunnel's node mode): istio/istio
     * security/pkg/server/ca/server.go {@code CreateCertificate} and node_auth.go
     * {@code authenticateImpersonation}.
     *
     * @param trustedNodeAccounts istiod's {@code CA_TRUSTED_NODE_ACCOUNTS}, {@code namespace/name} each;
     *     empty: istiod without a node authorizer, which refuses every impersonation
     * @param caller the pod the bearer token belongs to (the pod claims of a Kubernetes token); may be null
     * @param pods   the cluster's pods, as istiod's pod informer holds them
     */
    public record NodeAuthorization(Set<String> trustedNodeAccounts, Pod caller, List<Pod> pods) {
        public NodeAuthorization {
            trustedNodeAccounts = Set.copyOf(trustedNodeAccounts);
            pods = List.copyOf(pods);
        }

        /** Why istiod refuses {@code requested} to this caller (its log line), or {@code null} when it allows it. */
        String refusal(String requested) {
            if (caller == null || !trustedNodeAccounts.contains(caller.namespace() + "/" + caller.serviceAccount())) {
                return "caller (" + caller + ") is not allowed to impersonate";
            }
            // spiffe.ParseIdentity: spiffe://<trust domain>/ns/<namespace>/sa/<service account>, nothing else.
            String[] p = requested.startsWith("spiffe://") ? requested.substring("spiffe://".length()).split("/", -1) : new String[0];
            if (p.length != 5 || !p[1].equals("ns") || !p[3].equals("sa")) {
                return "failed to validate impersonated identity " + requested;
            }
            Pod self = pods.stream().filter(x -> x.namespace().equals(caller.namespace()) && x.name().equals(caller.name()))
                    .findFirst().orElse(null);
            if (self == null) {
                return "failed to lookup pod: pod " + caller.namespace() + "/" + caller.name() + " not found";
            }
            if (!self.uid().equals(caller.uid())) {
                return "pod found, but UID does not match: " + self.uid() + " vs " + caller.uid();
            }
            if (!self.serviceAccount().equals(caller.serviceAccount())) {
                return "pod found, but ServiceAccount does not match: " + self.serviceAccount() + " vs " + caller.serviceAccount();
            }
            boolean onNode = pods.stream().anyMatch(x -> x.namespace().equals(p[2]) && x.serviceAccount().equals(p[4])
                    && x.node().equals(self.node()));
            return onNode ? null : "no instances of \"" + p[2] + "/" + p[4] + "\" found on node \"" + self.node() + "\"";
        }
    }

    /** istiod's answer to any refused impersonation: opaque on purpose, the reason goes only to its log. */
    public static final String IMPERSONATION_REFUSED = "request impersonation authentication failure";
    /** istiod's answer to a token it cannot authenticate. */
    public static final String AUTHENTICATION_REFUSED = "request authenticate failure";
    /** istiod's {@code MAX_WORKLOAD_CERT_TTL} and {@code DEFAULT_WORKLOAD_CERT_TTL} defaults (pilot/pkg/features). */
    public static final Duration MAX_CERT_TTL = Duration.ofDays(90);
    public static final Duration DEFAULT_CERT_TTL = Duration.ofHours(24);

    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final io.grpc.Context.Key<Metadata> HEADERS = io.grpc.Context.key("headers");

    private final InMemoryCa ca;
    private final Server server;
    /** Where the TLS certificate's CA key is staged; null for plaintext. */
    private final Path tlsDir;
    /** The TLS certificate, replaceable while serving; null for plaintext. */
    private final ServingKeys serving;
    private final ConcurrentLinkedQueue<Seen> seen = new ConcurrentLinkedQueue<>();
    private volatile String expectedToken;
    private volatile UnaryOperator<Response> tamper = UnaryOperator.identity();
    private volatile Status failWith;
    private volatile NodeAuthorization nodeAuthorization;
    private volatile Pod caller;
    private volatile boolean lenient;
    private final ConcurrentLinkedQueue<String> refusals = new ConcurrentLinkedQueue<>();

    /**
     * @param tlsDir when non-null, serve TLS with a certificate for {@link #SERVER_NAME} signed by
     *     {@code ca}'s root (its key is taken from {@link InMemoryCa#save} into this directory)
     */
    public FakeIstioCa(InMemoryCa ca, String expectedToken, Path tlsDir) throws Exception {
        this.ca = ca;
        this.expectedToken = expectedToken;
        MethodDescriptor<Request, Response> method = MethodDescriptor.newBuilder(new RequestMarshaller(), new ResponseMarshaller())
                .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(METHOD).build();
        ServerServiceDefinition service = ServerServiceDefinition.builder(MethodDescriptor.extractFullServiceName(METHOD))
                .addMethod(method, ServerCalls.asyncUnaryCall(this::create))
                .build();
        NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(service, new ServerInterceptor() {
                    @Override
                    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                        return io.grpc.Contexts.interceptCall(io.grpc.Context.current().withValue(HEADERS, headers), call, headers, next);
                    }
                }));
        this.tlsDir = tlsDir;
        if (tlsDir != null) {
            this.serving = new ServingKeys();
            serving.set(serverCertificate(ca, tlsDir, SERVER_NAME));
            b.sslContext(GrpcSslContexts.configure(io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder.forServer(serving)).build());
        } else {
            this.serving = null;
        }
        this.server = b.build().start();
    }

    /**
     * A new TLS certificate for {@link #SERVER_NAME} signed by the CA's current root (after
     * {@link InMemoryCa#rotateRoot()}, the new one), as istiod regenerates its own serving
     * certificate when its CA's root changes (istio/istio pilot/pkg/bootstrap/certcontroller.go
     * {@code watchRootCertAndGenKeyCert}). Handshakes from now on get it; connections already open
     * keep theirs, and the server is not restarted.
     */
    public void reissueServerCertificate() throws Exception {
        if (serving == null) {
            throw new IllegalStateException("a plaintext FakeIstioCa has no TLS certificate");
        }
        serving.set(serverCertificate(ca, tlsDir, SERVER_NAME));
    }

    /** The server's key manager: the JDK's for the current certificate, each issuance under an alias of its own. */
    private static final class ServingKeys extends javax.net.ssl.X509ExtendedKeyManager {
        private static final char[] PASSWORD = "fake-istiod".toCharArray();
        private final java.util.Map<String, javax.net.ssl.X509ExtendedKeyManager> byAlias = new java.util.concurrent.ConcurrentHashMap<>();
        private final java.util.concurrent.atomic.AtomicInteger issued = new java.util.concurrent.atomic.AtomicInteger();
        private volatile javax.net.ssl.X509ExtendedKeyManager current;

        void set(IssuedCertificate cert) throws Exception {
            // A new alias each time, so that nothing keyed by alias (BoringSSL's key material) serves the old one.
            String alias = "istiod-" + issued.incrementAndGet();
            java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry(alias, cert.privateKey(), PASSWORD, cert.chain().toArray(new X509Certificate[0]));
            javax.net.ssl.KeyManagerFactory kmf = javax.net.ssl.KeyManagerFactory.getInstance("SunX509");
            kmf.init(ks, PASSWORD);
            javax.net.ssl.X509ExtendedKeyManager km = (javax.net.ssl.X509ExtendedKeyManager) kmf.getKeyManagers()[0];
            byAlias.put(alias, km);
            current = km;
        }

        @Override
        public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
            return null;
        }

        @Override
        public String chooseClientAlias(String[] keyType, java.security.Principal[] issuers, java.net.Socket socket) {
            return null;
        }

        @Override
        public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
            return current.getServerAliases(keyType, issuers);
        }

        @Override
        public String chooseServerAlias(String keyType, java.security.Principal[] issuers, java.net.Socket socket) {
            return current.chooseServerAlias(keyType, issuers, socket);
        }

        @Override
        public String chooseEngineServerAlias(String keyType, java.security.Principal[] issuers, javax.net.ssl.SSLEngine engine) {
            return current.chooseEngineServerAlias(keyType, issuers, engine);
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            javax.net.ssl.X509ExtendedKeyManager km = alias == null ? null : byAlias.get(alias);
            return km == null ? null : km.getCertificateChain(alias);
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            javax.net.ssl.X509ExtendedKeyManager km = alias == null ? null : byAlias.get(alias);
            return km == null ? null : km.getPrivateKey(alias);
        }
    }

    public int port() {
        return server.getPort();
    }

    public void expectToken(String token) {
        this.expectedToken = token;
    }

    /** Rewrites every answer (to test how the client treats a CA that misbehaves). */
    public void tamper(UnaryOperator<Response> f) {
        this.tamper = f;
    }

    /** Fails every call with this status until set back to {@code null}. */
    public void failWith(Status status) {
        this.failWith = status;
    }

    /**
     * istiod's node authorizer ({@code CA_TRUSTED_NODE_ACCOUNTS}) for requests that carry
     * {@code ImpersonatedIdentity}; {@code null} (the default) is istiod without one, which refuses
     * every impersonation. Its {@code caller} is also the token's pod when {@link #caller} is not set.
     */
    public void nodeAuthorization(NodeAuthorization authorization) {
        this.nodeAuthorization = authorization;
    }

    /**
     * The pod the expected token belongs to (istiod reads its namespace and service account from the
     * token): a request without {@code ImpersonatedIdentity} gets a certificate for
     * {@code spiffe://<trust domain>/ns/<namespace>/sa/<service account>}, whatever its CSR names.
     */
    public void caller(Pod pod) {
        this.caller = pod;
    }

    /**
     * {@code true}: sign the CSR's own SAN for any request with the right token and let any caller
     * impersonate (validity unchecked, one hour by default). For tests about something else than
     * istiod's authorization; say so where it is used.
     */
    public void lenient(boolean on) {
        this.lenient = on;
    }

    /**
     * The reasons requests were refused as unauthenticated, in order (what istiod logs; the caller
     * only sees {@link #IMPERSONATION_REFUSED} or {@link #AUTHENTICATION_REFUSED}).
     */
    public List<String> refusals() {
        return new ArrayList<>(refusals);
    }

    public List<Seen> seen() {
        return new ArrayList<>(seen);
    }

    private void create(Request req, io.grpc.stub.StreamObserver<Response> out) {
        Metadata headers = HEADERS.get();
        seen.add(new Seen(headers, req));
        if (failWith != null) {
            out.onError(failWith.asRuntimeException());
            return;
        }
        String auth = headers.get(AUTHORIZATION);
        if (auth == null || !auth.equals("Bearer " + expectedToken)) {
            refuse(out, "authenticate failed: token rejected", AUTHENTICATION_REFUSED);
            return;
        }
        boolean easy = lenient;
        NodeAuthorization nodes = nodeAuthorization;
        String impersonated = impersonatedIdentity(req.metadata());
        io.spiffe.spiffeid.SpiffeId san = null;
        if (!impersonated.isEmpty()) {
            String why = easy ? null : nodes == null
                    ? "impersonation not allowed, as node authorizer (CA_TRUSTED_NODE_ACCOUNTS) is not configured"
                    : nodes.refusal(impersonated);
            if (why != null) {
                refuse(out, why, IMPERSONATION_REFUSED);
                return;
            }
            san = io.spiffe.spiffeid.SpiffeId.parse(impersonated);
        } else if (!easy) {
            Pod pod = caller != null ? caller : nodes != null ? nodes.caller() : null;
            if (pod == null) {
                refuse(out, "no pod for the token: FakeIstioCa.caller names the pod it belongs to", AUTHENTICATION_REFUSED);
                return;
            }
            // kube_jwt.go: the caller's identity is its pod's service account, in the mesh's trust domain.
            san = io.spiffe.spiffeid.SpiffeId.fromSegments(ca.trustDomain(), "ns", pod.namespace(), "sa", pod.serviceAccount());
        }
        // istiod's order and codes (pki/ca/ca.go sign, pki/error/error.go HTTPErrorCode, server/ca/server.go
        // CreateCertificate answering "CSR signing error (%v)" with that code): the CSR is parsed and its signature
        // checked first (CSRError: INVALID_ARGUMENT), then the requested lifetime (TTLError: INVALID_ARGUMENT), then the
        // certificate is made (CertGenError, an expired signing certificate among them: INTERNAL). Until 6 December every
        // signing failure was INVALID_ARGUMENT, and a bad CSR with too long a lifetime was answered about the lifetime.
        byte[] csr;
        try {
            csr = Csr.fromPem(req.csr());
            Csr.publicKey(csr);
        } catch (Exception e) {
            signingError(out, Status.INVALID_ARGUMENT, e);
            return;
        }
        Duration ttl = Duration.ofSeconds(req.validityDurationSeconds());
        if (!easy && ttl.compareTo(MAX_CERT_TTL) > 0) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("CSR signing error (requested TTL " + ttl.getSeconds()
                    + "s is greater than the max allowed TTL " + MAX_CERT_TTL.getSeconds() + "s)").asRuntimeException());
            return;
        }
        if (req.validityDurationSeconds() <= 0) {
            ttl = easy ? Duration.ofHours(1) : DEFAULT_CERT_TTL;
        }
        List<X509Certificate> chain;
        try {
            chain = new ArrayList<>(san == null ? ca.signCsr(csr, ttl) : ca.signCsr(csr, san, ttl));
        } catch (java.security.cert.CertificateParsingException e) {
            // lenient: the CSR's own SAN is what is signed, and it has none (or several) readable
            signingError(out, Status.INVALID_ARGUMENT, e);
            return;
        } catch (Exception e) {
            signingError(out, Status.INTERNAL, e);
            return;
        }
        chain.add(ca.root());
        List<String> pems = new ArrayList<>();
        for (X509Certificate c : chain) {
            pems.add(Pem.certificates(List.of(c)));
        }
        out.onNext(tamper.apply(new Response(pems, List.of())));
        out.onCompleted();
    }

    /** server.go's answer to a failed sign: {@code status.Errorf(code, "CSR signing error (%v)", err)}. */
    private static void signingError(io.grpc.stub.StreamObserver<Response> out, Status code, Exception e) {
        out.onError(code.withDescription("CSR signing error (" + e.getMessage() + ")").asRuntimeException());
    }

    private void refuse(io.grpc.stub.StreamObserver<Response> out, String reason, String status) {
        refusals.add(reason);
        out.onError(Status.UNAUTHENTICATED.withDescription(status).asRuntimeException());
    }

    /** ca.proto's {@code metadata} field {@code ImpersonatedIdentity} as a string, or "" (protobuf's GetStringValue). */
    private static String impersonatedIdentity(Struct metadata) {
        if (metadata == null || !metadata.containsFields("ImpersonatedIdentity")) {
            return "";
        }
        return metadata.getFieldsOrThrow("ImpersonatedIdentity").getStringValue();
    }

    /** A TLS server certificate with a DNS SAN, signed by {@code ca}'s current root. */
    public static IssuedCertificate serverCertificate(InMemoryCa ca, Path dir, String dnsName) throws Exception {
        ca.save(dir);
        PrivateKey rootKey = Pem.parsePrivateKey(Pem.read(dir.resolve("root.key")));
        Files.delete(dir.resolve("root.key"));
        X509Certificate root = ca.root();
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair keys = g.generateKeyPair();
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder cb = new JcaX509v3CertificateBuilder(root, BigInteger.valueOf(now.toEpochMilli()),
                Date.from(now.minusSeconds(60)), Date.from(now.plusSeconds(3600)), new X500Name("CN=" + dnsName), keys.getPublic());
        cb.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        cb.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        cb.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
        cb.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName(GeneralName.dNSName, dnsName)));
        X509Certificate cert = new JcaX509CertificateConverter()
                .getCertificate(cb.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKey)));
        return new IssuedCertificate(List.of(cert), keys.getPrivate());
    }


    private static final class RequestMarshaller implements MethodDescriptor.Marshaller<Request> {
        @Override
        public InputStream stream(Request r) {
            UnknownFieldSet.Builder b = UnknownFieldSet.newBuilder()
                    .addField(1, UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFromUtf8(r.csr())).build())
                    .addField(3, UnknownFieldSet.Field.newBuilder().addVarint(r.validityDurationSeconds()).build());
            if (r.metadata() != null) {
                b.addField(4, UnknownFieldSet.Field.newBuilder().addLengthDelimited(r.metadata().toByteString()).build());
            }
            return new ByteArrayInputStream(b.build().toByteArray());
        }

        @Override
        public Request parse(InputStream in) {
            try {
                UnknownFieldSet f = UnknownFieldSet.parseFrom(in.readAllBytes());
                String csr = last(f, 1) == null ? "" : last(f, 1).toStringUtf8();
                List<Long> validity = f.hasField(3) ? f.getField(3).getVarintList() : List.of();
                ByteString md = last(f, 4);
                return new Request(csr, validity.isEmpty() ? 0 : validity.get(validity.size() - 1), md == null ? null : Struct.parseFrom(md));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static ByteString last(UnknownFieldSet f, int number) {
            List<ByteString> l = f.hasField(number) ? f.getField(number).getLengthDelimitedList() : List.of();
            return l.isEmpty() ? null : l.get(l.size() - 1);
        }
    }

    private static final class ResponseMarshaller implements MethodDescriptor.Marshaller<Response> {
        @Override
        public InputStream stream(Response r) {
            UnknownFieldSet.Field.Builder chain = UnknownFieldSet.Field.newBuilder();
            r.certChain().forEach(c -> chain.addLengthDelimited(ByteString.copyFromUtf8(c)));
            UnknownFieldSet.Builder b = UnknownFieldSet.newBuilder().addField(1, chain.build());
            if (!r.rootCerts().isEmpty()) {
                UnknownFieldSet.Field.Builder roots = UnknownFieldSet.Field.newBuilder();
                r.rootCerts().forEach(c -> roots.addLengthDelimited(ByteString.copyFromUtf8(c)));
                b.addField(2, UnknownFieldSet.Field.newBuilder()
                        .addLengthDelimited(UnknownFieldSet.newBuilder().addField(1, roots.build()).build().toByteString()).build());
            }
            return new ByteArrayInputStream(b.build().toByteArray());
        }

        @Override
        public Response parse(InputStream in) {
            throw new UnsupportedOperationException("a server never parses its responses");
        }
    }

    @Override
    public void close() {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
