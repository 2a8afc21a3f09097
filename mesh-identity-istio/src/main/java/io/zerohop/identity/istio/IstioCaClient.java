package io.zerohop.identity.istio;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.CertificateIssuer;
import io.zerohop.identity.Csr;
import io.zerohop.identity.Pem;
import io.zerohop.identity.internal.X509;
import io.zerohop.identity.istio.internal.IstioCaMessages;
import io.zerohop.identity.istio.internal.IstioCaResponses;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateRequest;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateResponse;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets SVIDs from the Istio CA (istiod, or any {@code istio.v1.auth.IstioCertificateService}
 * such as cert-manager's istio-csr) the way ztunnel does: a fresh P-256 key per request, a CSR
 * naming the SPIFFE ID, the Kubernetes service-account token as a bearer token.
 *
 * <p>The token is read from its file for every request, because projected service-account tokens
 * are rotated in place by the kubelet. Every answer is checked before it is returned: the leaf
 * must carry the requested SPIFFE ID and the generated key, and must verify against the mesh
 * roots given at build time; roots the CA sends back are never trusted on their own.
 */
public final class IstioCaClient implements CertificateIssuer, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IstioCaClient.class);

    /** The CA refused or could not be reached; {@link #grpcStatus()} names the gRPC status code. */
    public static final class CaException extends Exception {
        private static final long serialVersionUID = 1L;
        private final String grpcStatus;

        CaException(String message, String grpcStatus, Throwable cause) {
            super(message, cause);
            this.grpcStatus = grpcStatus;
        }

        /** e.g. {@code UNAUTHENTICATED}, {@code UNAVAILABLE}; {@code null} when the answer itself was bad. */
        public String grpcStatus() {
            return grpcStatus;
        }
    }

    private final String target;
    private final ManagedChannel channel;
    private final AuthSource auth;
    private final CaErrors errors;
    private final boolean impersonate;
    private final Duration validity;
    private final Duration callTimeout;
    private final List<X509Certificate> meshRoots;
    private final Clock clock;

    private IstioCaClient(Builder b, ManagedChannel channel) {
        this.target = b.host + ":" + b.port;
        this.channel = channel;
        this.auth = new AuthSource(b.token, b.tokenSource, b.headers);
        this.errors = new CaErrors(target, b.impersonate, b.tokenSource, b.callTimeout);
        this.impersonate = b.impersonate;
        this.validity = b.validity;
        this.callTimeout = b.callTimeout;
        this.meshRoots = b.meshRoots != null ? b.meshRoots : b.caRoots;
        this.clock = b.clock;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** {@code host:port} of the CA. */
    public String target() {
        return target;
    }

    /** A certificate chain, leaf first, for {@code id}, signed by the CA for a new key. */
    @Override
    public CompletableFuture<X509Svid> issue(SpiffeId id) {
        Objects.requireNonNull(id, "id");
        CompletableFuture<X509Svid> result = new CompletableFuture<>();
        KeyPair keys;
        Metadata md;
        CertificateRequest request;
        try {
            md = auth.metadata(id);
            keys = X509.newP256();
            request = new CertificateRequest(Csr.toPem(Csr.create(keys, id)), validity.toSeconds(), requestMetadata(id));
        } catch (CaException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        var call = AuthSource.withHeaders(channel.newCall(IstioCaMessages.CREATE_CERTIFICATE,
                CallOptions.DEFAULT.withDeadlineAfter(callTimeout.toNanos(), TimeUnit.NANOSECONDS)), md);
        ClientCalls.asyncUnaryCall(call,
                request, new StreamObserver<>() {
                    @Override
                    public void onNext(CertificateResponse response) {
                        try {
                            result.complete(toSvid(id, keys, response));
                        } catch (CaException e) {
                            result.completeExceptionally(e);
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.completeExceptionally(errors.explain(id, t));
                    }

                    @Override
                    public void onCompleted() {
                        result.completeExceptionally(new CaException("Istio CA at " + target + " sent no response for " + id, null, null));
                    }
                });
        return result;
    }

    private Struct requestMetadata(SpiffeId id) {
        if (!impersonate) {
            return null;
        }
        // ztunnel's node-mode field: istiod issues for this identity to a caller allowed to impersonate it
        return Struct.newBuilder().putFields("ImpersonatedIdentity", Value.newBuilder().setStringValue(id.toString()).build()).build();
    }

    private X509Svid toSvid(SpiffeId id, KeyPair keys, CertificateResponse response) throws CaException {
        try {
            X509Svid svid = IstioCaResponses.toSvid(id, keys, response, meshRoots, clock.instant());
            log.debug("Istio CA at {} issued {} valid until {}", target, id, svid.getLeaf().getNotAfter().toInstant());
            return svid;
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new CaException("Istio CA at " + target + " returned an unusable certificate for " + id + ": " + e.getMessage(), null, e);
        }
    }

    @Override
    public void close() {
        channel.shutdown();
        try {
            if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    public static final class Builder {
        private String host;
        private int port;
        private List<X509Certificate> caRoots;
        private List<X509Certificate> meshRoots;
        private boolean plaintext;
        private String authority;
        private Supplier<String> token;
        private String tokenSource;
        private final Map<String, String> headers = new LinkedHashMap<>();
        private boolean impersonate;
        private Duration validity = Duration.ofHours(24);
        private Duration callTimeout = Duration.ofSeconds(30);
        private Clock clock = Clock.systemUTC();

        private Builder() {}

        /** The CA endpoint, e.g. {@code istiod.istio-system.svc}, 15012. */
        public Builder address(String host, int port) {
            if (host == null || host.isBlank()) {
                throw new IllegalArgumentException("CA host must not be empty");
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("CA port must be 1..65535, got " + port);
            }
            this.host = host;
            this.port = port;
            return this;
        }

        /** Roots that sign the CA's TLS certificate; also the mesh roots unless {@link #meshRoots} says otherwise. */
        public Builder caCertificates(Collection<X509Certificate> roots) {
            if (roots == null || roots.isEmpty()) {
                throw new IllegalArgumentException("caCertificates must hold at least one certificate");
            }
            this.caRoots = List.copyOf(roots);
            return this;
        }

        /** {@link #caCertificates(Collection)} from a PEM file, e.g. Istio's {@code /var/run/secrets/istio/root-cert.pem}. */
        public Builder caCertificates(Path pemFile) {
            try {
                List<X509Certificate> certs = Pem.parseCertificates(Pem.read(pemFile));
                if (certs.isEmpty()) {
                    throw new IllegalArgumentException(pemFile + ": no CERTIFICATE block found");
                }
                return caCertificates(certs);
            } catch (IOException | CertificateException e) {
                throw new IllegalArgumentException("cannot read CA certificates from " + pemFile + ": " + e.getMessage(), e);
            }
        }

        /** Roots issued SVIDs must verify against, when they differ from the CA's TLS roots. */
        public Builder meshRoots(Collection<X509Certificate> roots) {
            if (roots == null || roots.isEmpty()) {
                throw new IllegalArgumentException("meshRoots must hold at least one certificate");
            }
            this.meshRoots = List.copyOf(roots);
            return this;
        }

        /** No TLS to the CA: only for tests and a CA reached over a trusted local link. */
        public Builder plaintext() {
            this.plaintext = true;
            return this;
        }

        /** The name the CA's TLS certificate is checked against when it differs from the host, e.g. {@code istiod.istio-system.svc}. */
        public Builder authority(String name) {
            this.authority = Objects.requireNonNull(name, "authority");
            return this;
        }

        /** The service-account token file (a projected token), read for every request. */
        public Builder tokenFile(Path file) {
            Objects.requireNonNull(file, "tokenFile");
            this.tokenSource = file.toString();
            this.token = AuthSource.tokenFile(file);
            return this;
        }

        /** A bearer token source other than a file; called for every request. */
        public Builder token(Supplier<String> source) {
            this.token = Objects.requireNonNull(source, "token");
            this.tokenSource = "the configured token supplier";
            return this;
        }

        /** The {@code ClusterID} header istiod uses to pick the cluster that validates the token. */
        public Builder clusterId(String clusterId) {
            return header("ClusterID", clusterId);
        }

        /** Any other request header (ztunnel's CA_HEADER_* settings). */
        public Builder header(String name, String value) {
            Objects.requireNonNull(name, "header name");
            Objects.requireNonNull(value, "header value");
            if (name.equalsIgnoreCase("authorization")) {
                throw new IllegalArgumentException("set the bearer token with tokenFile(...) or token(...), not as a header");
            }
            headers.put(name.toLowerCase(java.util.Locale.ROOT), value);
            return this;
        }

        /**
         * Ask for other workloads' identities with the caller's own token (ztunnel's node mode,
         * sent as {@code ImpersonatedIdentity} request metadata).
         */
        public Builder impersonate(boolean on) {
            this.impersonate = on;
            return this;
        }

        /** Requested certificate lifetime (default 24 h; the CA may shorten it). */
        public Builder validity(Duration ttl) {
            this.validity = positive("validity", ttl);
            if (ttl.toSeconds() < 1) {
                throw new IllegalArgumentException("validity must be at least one second, got " + io.zerohop.identity.internal.HumanText.duration(ttl));
            }
            return this;
        }

        public Builder callTimeout(Duration timeout) {
            this.callTimeout = positive("callTimeout", timeout);
            return this;
        }

        /** The clock issued certificates' validity is checked against. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public IstioCaClient build() {
            List<String> problems = new ArrayList<>();
            if (host == null) {
                problems.add("address(host, port) is required");
            }
            if (!plaintext && caRoots == null) {
                problems.add("caCertificates(...) is required for TLS (or plaintext() for tests)");
            }
            if (caRoots == null && meshRoots == null) {
                problems.add("meshRoots(...) or caCertificates(...) is required to verify issued certificates");
            }
            if (token == null) {
                problems.add("tokenFile(...) or token(...) is required: the Istio CA authenticates callers by bearer token");
            }
            if (!problems.isEmpty()) {
                throw new IllegalStateException("IstioCaClient: " + String.join("; ", problems));
            }
            NettyChannelBuilder cb = NettyChannelBuilder.forAddress(host, port);
            if (plaintext) {
                cb.usePlaintext();
            } else {
                try {
                    cb.sslContext(GrpcSslContexts.forClient().trustManager(caRoots.toArray(new X509Certificate[0])).build());
                } catch (SSLException e) {
                    throw new IllegalStateException("cannot build TLS context for the Istio CA: " + e.getMessage(), e);
                }
            }
            if (authority != null) {
                cb.overrideAuthority(authority);
            }
            return new IstioCaClient(this, cb.build());
        }

        private static Duration positive(String what, Duration d) {
            Objects.requireNonNull(d, what);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive, got " + io.zerohop.identity.internal.HumanText.duration(d));
            }
            return d;
        }
    }
}
