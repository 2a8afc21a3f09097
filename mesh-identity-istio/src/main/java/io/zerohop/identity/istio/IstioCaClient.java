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
import io.zerohop.identity.internal.FileWatcher;
import io.zerohop.identity.internal.X509;
import io.zerohop.identity.istio.internal.IstioCaMessages;
import io.zerohop.identity.istio.internal.IstioCaResponses;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateRequest;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateResponse;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
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
 * roots; roots the CA sends back are never trusted on their own. As ztunnel (src/identity/caclient.rs
 * {@code fetch_certificate}, src/tls/certificate.rs {@code WorkloadCertificate::new}), an answer whose
 * {@code cert_chain} is a single element (a lone leaf, or a whole chain in one PEM string: no root
 * element of its own) is refused, with ztunnel's WARN {@code no chain certs for: <id>}.
 *
 * <p>A root file given to {@link Builder#caCertificates(Path)} (Istio's {@code istio-ca-root-cert}
 * ConfigMap, which istiod rewrites when its root rotates and the kubelet swaps in place) is
 * followed, as ztunnel's {@code RootCertManager} follows it (istio/ztunnel src/tls/control.rs, used
 * by src/identity/caclient.rs {@code fetch_certificate}): it is re-read before every request and
 * checked in the background ({@link Builder#rootCheckInterval}); when its roots change, the TLS
 * channel to the CA is rebuilt on them (calls under way finish on the old one), returned chains
 * are verified against them, and {@link #addMeshRootsListener listeners} hear the new mesh roots,
 * so that a mesh's trust bundle follows too. A file that becomes unreadable or empty keeps the last
 * good roots (one WARN naming the file). Requests, the file check included, run on a thread of this
 * client, never on the caller's (a Netty event loop, for a proxy).
 */
public final class IstioCaClient implements CertificateIssuer, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IstioCaClient.class);

    /**
     * RFC 9113 section 8.2.2's connection-specific header names, as hyperium/h2's client lists the ones it refuses to send
     * (src/proto/streams/send.rs {@code check_headers}); a gRPC server resets a request carrying one. Lower case, unmodifiable.
     * {@link Builder#header} refuses them.
     */
    public static final java.util.Set<String> CONNECTION_SPECIFIC_HEADERS =
            java.util.Set.of("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade");

    /**
     * Header names a request of this client never carries as a caller wrote them, so {@link Builder#header} refuses them.
     * Lower case, unmodifiable. grpc-java (grpc/grpc-java, read at 5fda0c7c35) replaces {@code content-type}, {@code te}
     * and {@code user-agent} with its own (netty {@code Utils.convertClientHeaders}), replaces {@code grpc-timeout} with
     * the call's deadline ({@code AbstractClientStream.setDeadline}; every call of this client has one), and drops
     * {@code content-length}, {@code grpc-encoding}, {@code grpc-accept-encoding}, {@code content-encoding} and
     * {@code accept-encoding}, putting back its own encodings ({@code ClientCallImpl.prepareHeaders});
     * {@code grpc-status}, {@code grpc-message} and {@code grpc-message-type} are gRPC's response names, which ztunnel's
     * tonic drops from a request ({@code MetadataMap::GRPC_RESERVED_HEADERS}, with {@code te} and {@code content-type}).
     */
    public static final java.util.Set<String> GRPC_RESERVED_HEADERS = java.util.Set.of("content-type", "te", "user-agent",
            "grpc-timeout", "content-length", "grpc-encoding", "grpc-accept-encoding", "content-encoding", "accept-encoding",
            "grpc-status", "grpc-message", "grpc-message-type");

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

    /**
     * What requests use now: the roots the CA's TLS certificate is checked against ({@code null} for
     * plaintext), the channel built on them, and the roots issued certificates must verify against.
     */
    private record Roots(List<X509Certificate> tls, ManagedChannel channel, List<X509Certificate> mesh) {}

    private final String target;
    private final String host;
    private final int port;
    private final String authority;
    private final AuthSource auth;
    private final CaErrors errors;
    private final boolean impersonate;
    private final Duration validity;
    private final Duration callTimeout;
    private final Clock clock;
    /** The followed root file; null when the roots were given as certificates. */
    private final RootCertFile rootFile;
    /** Whether the mesh roots are the file's (no {@link Builder#meshRoots} of their own). */
    private final boolean meshFromFile;
    private final List<Consumer<? super List<X509Certificate>>> meshRootsListeners = new CopyOnWriteArrayList<>();
    /**
     * Where requests start: the file check, the token read and the key generation are not for the
     * caller's thread. One thread, ended when idle; the calls themselves are asynchronous.
     */
    private final ThreadPoolExecutor requests;
    private final FileWatcher watcher;
    // Replaced under this lock (so listeners hear changes in the order they happened); read without it.
    private volatile Roots roots;
    private volatile boolean closed;

    private IstioCaClient(Builder b) {
        this.target = b.host + ":" + b.port;
        this.host = b.host;
        this.port = b.port;
        this.authority = b.authority;
        this.auth = new AuthSource(b.token, b.tokenSource, b.headers);
        this.errors = new CaErrors(target, b.impersonate, b.tokenSource, b.callTimeout, b.headers.get("clusterid"));
        this.impersonate = b.impersonate;
        this.validity = b.validity;
        this.callTimeout = b.callTimeout;
        this.clock = b.clock;
        this.rootFile = b.rootFile;
        this.meshFromFile = b.rootFile != null && b.meshRoots == null;
        List<X509Certificate> tls = b.plaintext ? null : b.caRoots();
        this.roots = new Roots(tls, channel(tls), b.meshRoots != null ? b.meshRoots : b.caRoots());
        this.requests = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "zerohop-istio-ca");
            t.setDaemon(true);
            return t;
        });
        requests.allowCoreThreadTimeOut(true);
        // The directory, not the file: the kubelet swaps the ConfigMap's ..data symlink there (as
        // ztunnel's RootCertManager watches the parent directory). Polling backs the watch up.
        this.watcher = rootFile == null || b.rootCheckInterval == null ? null
                : new FileWatcher("zerohop-istio-root-watch", Set.of(rootFile.path().toAbsolutePath().getParent()), true,
                        b.rootCheckInterval, Duration.ofMillis(100), this::currentRoots);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** {@code host:port} of the CA. */
    public String target() {
        return target;
    }

    /**
     * The roots issued certificates must verify against now: those of {@link Builder#meshRoots},
     * else those of {@link Builder#caCertificates} (for a file, as of its last check). They are the
     * trust bundle of the mesh's own trust domain: a node proxy gives them to its
     * {@code CertificateManager} and follows them with {@link #addMeshRootsListener}.
     */
    public List<X509Certificate> meshRoots() {
        return roots.mesh();
    }

    /**
     * Tells {@code listener} the new {@link #meshRoots()} each time they change (the root file was
     * rewritten, e.g. istiod added or retired a root). Called on this client's request thread or its
     * file watcher's, one change at a time and in order; keep it short and never block (swap a
     * reference, as {@code CertificateManager.updateBundles} does). A RuntimeException it throws is
     * logged and ignored.
     */
    public void addMeshRootsListener(Consumer<? super List<X509Certificate>> listener) {
        meshRootsListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    public void removeMeshRootsListener(Consumer<? super List<X509Certificate>> listener) {
        meshRootsListeners.remove(listener);
    }

    /**
     * The roots in force, the root file re-read first: a changed file rebuilds the channel to the CA
     * (ztunnel's fetch_certificate rebuilds it when its RootCertManager is dirty) and tells the
     * listeners. Runs on the request thread or the watcher's, never on a caller's.
     */
    private Roots currentRoots() {
        if (rootFile == null) {
            return roots;
        }
        synchronized (this) {
            Roots was = roots;
            if (closed) {
                return was;
            }
            List<X509Certificate> file = rootFile.read();
            List<X509Certificate> tls = was.tls();
            ManagedChannel channel = was.channel();
            if (tls != null && !same(file, tls)) {
                try {
                    channel = channel(file);
                    tls = file;
                } catch (RuntimeException e) {
                    // Kept as ztunnel keeps its channel; the roots still differ, so the next check tries again.
                    log.warn("cannot rebuild the TLS channel to the Istio CA at {} on the roots of {}: {}; keeping the previous one",
                            target, rootFile.path(), e.getMessage());
                }
            }
            List<X509Certificate> mesh = meshFromFile ? file : was.mesh();
            boolean meshChanged = !same(mesh, was.mesh());
            if (channel == was.channel() && !meshChanged) {
                return was;
            }
            roots = new Roots(tls, channel, mesh);
            if (channel != was.channel()) {
                log.info("Istio CA at {}: TLS now trusts the {} root(s) of {}", target, tls.size(), rootFile.path());
                // Calls under way finish on the old channel; new ones use the new.
                was.channel().shutdown();
            }
            if (meshChanged) {
                for (Consumer<? super List<X509Certificate>> l : meshRootsListeners) {
                    try {
                        l.accept(mesh);
                    } catch (RuntimeException e) {
                        log.warn("mesh roots listener {} failed: {}", l, e.toString(), e);
                    }
                }
            }
            return roots;
        }
    }

    /** A channel to the CA trusting {@code tlsRoots}; plaintext when they are null. */
    private ManagedChannel channel(List<X509Certificate> tlsRoots) {
        NettyChannelBuilder cb = NettyChannelBuilder.forAddress(host, port);
        if (tlsRoots == null) {
            cb.usePlaintext();
        } else {
            try {
                cb.sslContext(GrpcSslContexts.forClient().trustManager(tlsRoots.toArray(new X509Certificate[0])).build());
            } catch (SSLException e) {
                throw new IllegalStateException("cannot build TLS context for the Istio CA: " + e.getMessage(), e);
            }
        }
        if (authority != null) {
            cb.overrideAuthority(authority);
        }
        return cb.build();
    }

    private static boolean same(List<X509Certificate> a, List<X509Certificate> b) {
        return new HashSet<>(a).equals(new HashSet<>(b));
    }

    /** A certificate chain, leaf first, for {@code id}, signed by the CA for a new key. */
    @Override
    public CompletableFuture<X509Svid> issue(SpiffeId id) {
        Objects.requireNonNull(id, "id");
        CompletableFuture<X509Svid> result = new CompletableFuture<>();
        try {
            requests.execute(() -> send(id, result));
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new CaException("the client of the Istio CA at " + target + " is closed; cannot request " + id, null, e));
        }
        return result;
    }

    private void send(SpiffeId id, CompletableFuture<X509Svid> result) {
        Roots now;
        KeyPair keys;
        Metadata md;
        CertificateRequest request;
        try {
            now = currentRoots();
            md = auth.metadata(id);
            keys = X509.newP256();
            request = new CertificateRequest(Csr.toPem(Csr.create(keys, id)), validity.toSeconds(), requestMetadata(id));
        } catch (CaException | RuntimeException e) {
            result.completeExceptionally(e);
            return;
        }
        var call = AuthSource.withHeaders(now.channel().newCall(IstioCaMessages.CREATE_CERTIFICATE,
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
    }

    private Struct requestMetadata(SpiffeId id) {
        if (!impersonate) {
            return null;
        }
        // ztunnel's node-mode field: istiod issues for this identity to a caller allowed to impersonate it
        return Struct.newBuilder().putFields("ImpersonatedIdentity", Value.newBuilder().setStringValue(id.toString()).build()).build();
    }

    private X509Svid toSvid(SpiffeId id, KeyPair keys, CertificateResponse response) throws CaException {
        // The roots as of now, not as of the request: a file change seen meanwhile counts.
        List<X509Certificate> mesh = roots.mesh();
        try {
            X509Svid svid = IstioCaResponses.toSvid(id, keys, response, mesh, clock.instant());
            log.debug("Istio CA at {} issued {} valid until {}", target, id, svid.getLeaf().getNotAfter().toInstant());
            return svid;
        } catch (IstioCaResponses.NoRootException e) {
            // ztunnel's fetch_certificate warns so before refusing the answer (src/identity/caclient.rs).
            log.warn("Istio CA at {}: no chain certs for: {}", target, id);
            throw new CaException("Istio CA at " + target + " returned an unusable certificate for " + id + ": " + e.getMessage(), null, e);
        } catch (IstioCaResponses.UnknownRootException e) {
            // istiod signs under a root this side does not trust (yet): say where the trusted ones come from.
            String where = meshFromFile
                    ? "the " + mesh.size() + " root(s) of " + rootFile.path() + ": istiod signs under a root not (yet) in that file;"
                            + " the kubelet brings a mounted istio-ca-root-cert ConfigMap up to date within a minute or two,"
                            + " and the file is read again before every request"
                    : "the " + mesh.size() + " configured mesh root(s)";
            throw new CaException("Istio CA at " + target + " returned an unusable certificate for " + id + ": " + e.getMessage()
                    + "; it chains to a root the CA sent (" + e.root().getSubjectX500Principal().getName() + "), which is not among "
                    + where, null, e);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new CaException("Istio CA at " + target + " returned an unusable certificate for " + id + ": " + e.getMessage(), null, e);
        }
    }

    @Override
    public void close() {
        ManagedChannel channel;
        synchronized (this) {
            closed = true;
            channel = roots.channel();
        }
        if (watcher != null) {
            watcher.close();
        }
        requests.shutdown();
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
        private RootCertFile rootFile;
        private List<X509Certificate> meshRoots;
        private Duration rootCheckInterval = Duration.ofSeconds(10);
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

        /**
         * Roots that sign the CA's TLS certificate; also the mesh roots unless {@link #meshRoots} says otherwise.
         * Fixed: to follow a root rotation, give the file ({@link #caCertificates(Path)}).
         */
        public Builder caCertificates(Collection<X509Certificate> roots) {
            if (roots == null || roots.isEmpty()) {
                throw new IllegalArgumentException("caCertificates must hold at least one certificate");
            }
            this.caRoots = List.copyOf(roots);
            this.rootFile = null;
            return this;
        }

        /**
         * {@link #caCertificates(Collection)} from a PEM file, e.g. Istio's
         * {@code /var/run/secrets/istio/root-cert.pem} (the {@code istio-ca-root-cert} ConfigMap). Read
         * now (a missing or empty file is an error here), then followed: re-read before every request
         * and every {@link #rootCheckInterval}, and on a change in its directory.
         */
        public Builder caCertificates(Path pemFile) {
            Objects.requireNonNull(pemFile, "caCertificates");
            this.rootFile = new RootCertFile(pemFile);
            this.caRoots = null;
            return this;
        }

        /**
         * How often a root file ({@link #caCertificates(Path)}) is checked in the background, besides
         * changes its directory's watch reports and the check before every request (default 10 s);
         * {@code null}: before requests only, so the {@link IstioCaClient#meshRoots() mesh roots} change
         * only when a certificate is asked for.
         */
        public Builder rootCheckInterval(Duration interval) {
            this.rootCheckInterval = interval == null ? null : positive("rootCheckInterval", interval);
            return this;
        }

        /** Roots issued SVIDs must verify against, when they differ from the CA's TLS roots; fixed, even when those come from a file. */
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

        /**
         * Any other request header (ztunnel's CA_HEADER_* settings), its name lower-cased. Refused here, not by every
         * request: a name that is no gRPC ASCII metadata key ({@code 0-9 a-z _ - .}, case aside, not ending in
         * {@code -bin}: grpc-java's {@code Metadata.Key.of}); a connection-specific name ({@code connection},
         * {@code keep-alive}, {@code proxy-connection}, {@code transfer-encoding}, {@code upgrade}: RFC 9113 section
         * 8.2.2, which hyperium/h2's client refuses to send, src/proto/streams/send.rs {@code check_headers}, and a server
         * resets); a value with a character other than visible ASCII, space and tab (a control character is refused by
         * istiod's HTTP/2 framer, golang.org/x/net/http2 {@code ValidHeaderFieldValue}; grpc-java writes US-ASCII, so
         * one past ASCII would go out as '?'). Until 6 December such a header was taken and every request failed. Also
         * refused: a name in {@link IstioCaClient#GRPC_RESERVED_HEADERS}, which grpc-java replaces with its own or drops
         * (until 6 December it was taken and silently not sent as written).
         *
         * @throws IllegalArgumentException naming the header, for the above or {@code authorization}
         */
        public Builder header(String name, String value) {
            Objects.requireNonNull(name, "header name");
            Objects.requireNonNull(value, "header value");
            if (name.equalsIgnoreCase("authorization")) {
                throw new IllegalArgumentException("set the bearer token with tokenFile(...) or token(...), not as a header");
            }
            String key = name.toLowerCase(java.util.Locale.ROOT);
            try {
                io.grpc.Metadata.Key.of(key, io.grpc.Metadata.ASCII_STRING_MARSHALLER);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("header \"" + name + "\": not a gRPC ASCII header name (" + e.getMessage().strip() + ")", e);
            }
            if (CONNECTION_SPECIFIC_HEADERS.contains(key)) {
                throw new IllegalArgumentException("header \"" + name + "\": a connection-specific header, which HTTP/2 forbids"
                        + " (RFC 9113 8.2.2): every request would be reset");
            }
            if (GRPC_RESERVED_HEADERS.contains(key)) {
                throw new IllegalArgumentException("header \"" + name + "\": a name gRPC reserves (IstioCaClient.GRPC_RESERVED_HEADERS):"
                        + " it cannot be sent as written");
            }
            for (int i = 0; i < value.length(); i++) {
                char ch = value.charAt(i);
                if (!(ch >= 0x20 && ch < 0x7f || ch == '\t')) {
                    throw new IllegalArgumentException("header \"" + name + "\": the value holds " + String.format("U+%04X", (int) ch)
                            + "; a gRPC ASCII header value is visible ASCII, spaces and tabs only");
                }
            }
            headers.put(key, value);
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

        /**
         * Requested certificate lifetime (default 24 h; the CA may shorten it), sent in whole seconds as the request's
         * {@code validity_duration}. {@link Duration#ZERO} sends 0, which asks for the CA's own default: istiod signs a
         * non-positive request for its {@code DEFAULT_WORKLOAD_CERT_TTL} (istio/istio security/pkg/pki/ca/ca.go
         * {@code sign}); ztunnel sends 0 for a {@code SECRET_TTL} under one second (istio/ztunnel
         * src/identity/manager.rs, {@code secret_ttl.as_secs()}). Otherwise at least one second.
         */
        public Builder validity(Duration ttl) {
            Objects.requireNonNull(ttl, "validity");
            if (ttl.isZero()) {
                this.validity = ttl;
                return this;
            }
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
            if (!plaintext && caRoots() == null) {
                problems.add("caCertificates(...) is required for TLS (or plaintext() for tests)");
            }
            if (caRoots() == null && meshRoots == null) {
                problems.add("meshRoots(...) or caCertificates(...) is required to verify issued certificates");
            }
            if (token == null) {
                problems.add("tokenFile(...) or token(...) is required: the Istio CA authenticates callers by bearer token");
            }
            if (!problems.isEmpty()) {
                throw new IllegalStateException("IstioCaClient: " + String.join("; ", problems));
            }
            return new IstioCaClient(this);
        }

        /** The CA's TLS roots as given, or as the root file held when last read. */
        private List<X509Certificate> caRoots() {
            return rootFile != null ? rootFile.roots() : caRoots;
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
