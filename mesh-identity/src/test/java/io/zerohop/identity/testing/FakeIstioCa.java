package io.zerohop.identity.testing;

import io.grpc.Metadata;
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
import io.zerohop.identity.internal.IstioCaMessages;
import io.zerohop.identity.internal.IstioCaMessages.CertificateRequest;
import io.zerohop.identity.internal.IstioCaMessages.CertificateResponse;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
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
 * An in-process {@code istio.v1.auth.IstioCertificateService} on loopback TCP, optionally TLS:
 * checks the bearer token as istiod does and signs CSRs with an {@link InMemoryCa}, answering
 * leaf first and root last.
 */
public final class FakeIstioCa implements AutoCloseable {
    public static final String SERVER_NAME = "istiod.istio-system.svc";

    /** What the server saw for one call. */
    public record Seen(Metadata headers, CertificateRequest request) {}

    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final io.grpc.Context.Key<Metadata> HEADERS = io.grpc.Context.key("headers");

    private final InMemoryCa ca;
    private final Server server;
    private final ConcurrentLinkedQueue<Seen> seen = new ConcurrentLinkedQueue<>();
    private volatile String expectedToken;
    private volatile UnaryOperator<CertificateResponse> tamper = UnaryOperator.identity();
    private volatile Status failWith;

    /**
     * @param tlsDir when non-null, serve TLS with a certificate for {@link #SERVER_NAME} signed by
     *     {@code ca}'s root (its key is taken from {@link InMemoryCa#save} into this directory)
     */
    public FakeIstioCa(InMemoryCa ca, String expectedToken, Path tlsDir) throws Exception {
        this.ca = ca;
        this.expectedToken = expectedToken;
        ServerServiceDefinition service = ServerServiceDefinition.builder(IstioCaMessages.SERVICE)
                .addMethod(IstioCaMessages.CREATE_CERTIFICATE, ServerCalls.asyncUnaryCall(this::create))
                .build();
        NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(service, new ServerInterceptor() {
                    @Override
                    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                        return io.grpc.Contexts.interceptCall(io.grpc.Context.current().withValue(HEADERS, headers), call, headers, next);
                    }
                }));
        if (tlsDir != null) {
            IssuedCertificate tls = serverCertificate(ca, tlsDir, SERVER_NAME);
            b.sslContext(GrpcSslContexts.configure(io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder.forServer(
                    tls.privateKey(), tls.chain().toArray(new X509Certificate[0]))).build());
        }
        this.server = b.build().start();
    }

    public int port() {
        return server.getPort();
    }

    public void expectToken(String token) {
        this.expectedToken = token;
    }

    /** Rewrites every answer (to test how the client treats a CA that misbehaves). */
    public void tamper(UnaryOperator<CertificateResponse> f) {
        this.tamper = f;
    }

    /** Fails every call with this status until set back to {@code null}. */
    public void failWith(Status status) {
        this.failWith = status;
    }

    public List<Seen> seen() {
        return new ArrayList<>(seen);
    }

    private void create(CertificateRequest req, io.grpc.stub.StreamObserver<CertificateResponse> out) {
        Metadata headers = HEADERS.get();
        seen.add(new Seen(headers, req));
        if (failWith != null) {
            out.onError(failWith.asRuntimeException());
            return;
        }
        String auth = headers.get(AUTHORIZATION);
        if (auth == null || !auth.equals("Bearer " + expectedToken)) {
            out.onError(Status.UNAUTHENTICATED.withDescription("authenticate failed: token rejected").asRuntimeException());
            return;
        }
        try {
            List<X509Certificate> chain = new ArrayList<>(ca.signCsr(Csr.fromPem(req.csr()),
                    Duration.ofSeconds(req.validityDurationSeconds() > 0 ? req.validityDurationSeconds() : 3600)));
            chain.add(ca.root());
            List<String> pems = new ArrayList<>();
            for (X509Certificate c : chain) {
                pems.add(Pem.certificates(List.of(c)));
            }
            out.onNext(tamper.apply(new CertificateResponse(pems, List.of())));
            out.onCompleted();
        } catch (Exception e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        }
    }

    /** A TLS server certificate with a DNS SAN, signed by {@code ca}'s current root. */
    public static IssuedCertificate serverCertificate(InMemoryCa ca, Path dir, String dnsName) throws Exception {
        ca.save(dir);
        PrivateKey rootKey = Pem.parsePrivateKey(Pem.read(dir.resolve("root.key")));
        Files.delete(dir.resolve("root.key"));
        X509Certificate root = ca.root();
        KeyPair keys = io.zerohop.identity.internal.X509.newP256();
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
