package io.zerohop.cli;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.CertificateState;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.Pem;
import io.zerohop.identity.istio.IstioCaClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * {@code zerohop proxy --istio-ca HOST:PORT}: the node proxy's SVIDs from istiod (or istio-csr) as
 * ztunnel gets them in shared (node) mode: one {@link IstioCaClient} with the node proxy's own
 * projected token (audience {@code istio-ca}), asking for each local pod's identity with the
 * {@code ImpersonatedIdentity} request metadata (ztunnel src/identity/caclient.rs;
 * {@code enable_impersonated_identity} is on in ztunnel's shared mode). istiod grants that only to
 * a caller listed in {@code CA_TRUSTED_NODE_ACCOUNTS} and only for identities of pods on the
 * caller's node (istio/istio security/pkg/server/ca/server.go, node_auth.go).
 *
 * <p>Defaults follow ztunnel's config.rs: header {@code ClusterID: Kubernetes} (CLUSTER_ID), the
 * root from the {@code istio-ca-root-cert} ConfigMap both as the CA's TLS roots and as the mesh
 * roots (CA_ROOT_CA), and {@code --istio-ca-hostname} as ztunnel's ALT_CA_HOSTNAME.
 *
 * <p>The root file is followed, as ztunnel's RootCertManager follows it (src/tls/control.rs): when
 * istiod rotates its root it rewrites the ConfigMap, and the {@link IstioCaClient} re-reads the file
 * (channel to istiod, checks of issued certificates) and tells this provider, which hands the new
 * roots to {@link CertificateManager#updateBundles} as the trust bundle of the mesh's trust domain:
 * peers whose certificates chain to the new root are accepted from the next handshake on.
 */
final class IstioCaProvider implements IdentityProvider {
    /**
     * Caffeine logs every failed asynchronous load with its stack trace through java.util.logging;
     * CertificateManager's callers already report the CA's failure in one line (held so it sticks).
     */
    private static final java.util.logging.Logger CAFFEINE = java.util.logging.Logger.getLogger("com.github.benmanes.caffeine.cache");

    static {
        CAFFEINE.setLevel(java.util.logging.Level.SEVERE);
    }

    /** How long the start-up check waits for the first certificate. */
    static final Duration FIRST_CERTIFICATE = Duration.ofSeconds(30);

    private final IstioCaClient client;
    private final CertificateManager manager;
    private final Consumer<List<X509Certificate>> followRoots;

    private IstioCaProvider(IstioCaClient client, CertificateManager manager, TrustDomain trustDomain) {
        this.client = client;
        this.manager = manager;
        this.followRoots = roots -> manager.updateBundles(bundles(trustDomain, roots));
        client.addMeshRootsListener(followRoots);
        // A change between building the manager and adding the listener must not be lost.
        manager.updateBundles(bundles(trustDomain, client.meshRoots()));
    }

    private static X509BundleSet bundles(TrustDomain trustDomain, List<X509Certificate> roots) {
        return X509BundleSet.of(List.of(new X509Bundle(trustDomain, new HashSet<>(roots))));
    }

    /**
     * @param secretTtl the lifetime asked for (ztunnel's {@code SECRET_TTL}, {@link ProxyCommand#secretTtl}), sent in whole
     *     seconds ({@code validity_duration}; under one second, 0: the CA's default), as ztunnel's {@code as_secs()}
     * @param headers extra headers of every request (ztunnel's {@code CA_HEADER_*}, {@link ProxyCommand#caHeaders}),
     *     lower-case names; sent before the {@code ClusterID} header, which wins over one of the same name as in ztunnel
     * @param where how an error names an option (long name without dashes): {@code --istio-ca}, or the
     *     config file's {@code file:line: istio-ca} ({@link ConfigFile.Origins#label})
     */
    static IstioCaProvider create(String address, Path root, Path tokenFile, String clusterId, String hostname, String trustDomain,
                                  Duration secretTtl, java.util.Map<String, String> headers, java.util.function.UnaryOperator<String> where) {
        int colon = address == null ? -1 : address.lastIndexOf(':');
        int port = -1;
        if (colon > 0) {
            try {
                port = Integer.parseInt(address.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
        }
        String host = colon > 0 ? address.substring(0, colon).replaceAll("^\\[(.*)]$", "$1") : "";
        if (host.isEmpty() || port < 1 || port > 65535 || host.contains("/")) {
            // A URL (ztunnel's CA_ADDRESS form, https://istiod.istio-system.svc:15012) passed here and failed later with
            // gRPC's "Invalid host or port: https://istiod.istio-system.svc 15012", exit 1 (helper 269).
            throw new Cli.RefusedException(where.apply("istio-ca") + ": \"" + address + "\" is not HOST:PORT (e.g. istiod.istio-system.svc:15012"
                    + (address.contains("://") ? ", without the URL's scheme" : "") + ")", 2);
        }
        // Read here for the option's own error message; the client reads (and then follows) the file itself.
        roots(root, where.apply("istio-ca-root"));
        if (!Files.isReadable(tokenFile)) {
            throw new Cli.RefusedException(where.apply("token-file") + ": " + tokenFile + " is not a readable file (the projected service-account token,"
                    + " audience istio-ca)", 2);
        }
        IstioCaClient.Builder b = IstioCaClient.builder().address(host, port).caCertificates(root).tokenFile(tokenFile);
        headers.forEach(b::header);
        b.clusterId(clusterId == null ? "Kubernetes" : clusterId).impersonate(true)
                .validity(Duration.ofSeconds(secretTtl.toSeconds())).callTimeout(FIRST_CERTIFICATE);
        if (hostname != null) {
            b.authority(hostname);
        }
        IstioCaClient client = b.build();
        TrustDomain td = TrustDomain.parse(trustDomain);
        CertificateManager manager = CertificateManager.builder().issuer(client).trustBundles(bundles(td, client.meshRoots())).build();
        return new IstioCaProvider(client, manager, td);
    }

    private static List<X509Certificate> roots(Path file, String label) {
        try {
            List<X509Certificate> roots = Pem.parseCertificates(Pem.read(file));
            if (roots.isEmpty()) {
                throw new Cli.RefusedException(label + ": " + file + ": no CERTIFICATE block found", 2);
            }
            return roots;
        } catch (IOException | CertificateException e) {
            throw new Cli.RefusedException(label + ": " + file + ": " + Cli.describe(e), 2);
        }
    }

    String target() {
        return client.target();
    }

    /**
     * Asks the CA for {@code id} and waits for a certificate: the start-up check. A refusal of the request (a wrong
     * token, a refused impersonation, an answer that is no certificate) is one line and exit code 4, rather than a proxy
     * that reports ready and then fails every tunnel: no retry can mend it. A CA that cannot be reached (gRPC UNAVAILABLE
     * or DEADLINE_EXCEEDED, or no answer within {@link #FIRST_CERTIFICATE}) is waited for, as ztunnel waits for istiod
     * (its certificate fetches retry on a backoff capped at 150 s ±20 %): CertificateManager retries on that backoff and
     * logs each failure with its next attempt, and this polls it every second until a certificate comes or
     * {@code stopping} says the proxy stops (then false). Until 5 December an unreachable CA exited 4 at start too, and
     * an istiod restart during a node's start put the node proxy into its supervisor's crash-loop back-off (a new-user
     * pass).
     *
     * @param waiting told once, when the first attempt failed for an unreachable CA (its reason)
     * @return true once a certificate came, false when {@code stopping} became true first
     */
    boolean check(SpiffeId id, java.util.function.BooleanSupplier stopping, java.util.function.Consumer<String> waiting) {
        boolean told = false;
        while (!stopping.getAsBoolean()) {
            String transientReason = null;
            java.util.concurrent.CompletableFuture<?> answer = manager.svid(id);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(FIRST_CERTIFICATE.toSeconds() + 5);
            try {
                // In one-second slices: a SIGTERM while a call hangs (a CA that accepts and never answers) stops the
                // wait within a second, not after the call's 30 s (a final new-user pass: 24 s after the signal).
                while (true) {
                    try {
                        answer.get(1, TimeUnit.SECONDS);
                        return true;
                    } catch (TimeoutException slice) {
                        if (stopping.getAsBoolean()) {
                            return false;
                        }
                        if (System.nanoTime() - deadline > 0) {
                            transientReason = "Istio CA at " + client.target() + " gave no certificate for " + id + " within "
                                    + FIRST_CERTIFICATE.toSeconds() + " s";
                            break;
                        }
                    }
                }
            } catch (ExecutionException e) {
                // Every line names the CA: a TLS failure's text was the JDK's alone ("PKIX path building failed: ...").
                String why = Cli.describe(e);
                if (!why.startsWith("Istio CA at ")) {
                    why = "Istio CA at " + client.target() + ": " + why;
                }
                if (!unreachable(e)) {
                    throw new Cli.RefusedException(why + "; not started: a retry would be refused the same way", 4);
                }
                transientReason = why;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Cli.RefusedException("interrupted while waiting for the Istio CA", 4);
            }
            if (!told) {
                waiting.accept(transientReason);
                told = true;
            }
            try {
                Thread.sleep(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Cli.RefusedException("interrupted while waiting for the Istio CA", 4);
            }
        }
        return false;
    }

    /**
     * Whether {@code e} is the CA out of reach (gRPC UNAVAILABLE or DEADLINE_EXCEEDED), which a later attempt may pass. A
     * TLS failure under UNAVAILABLE (a root file that is not istiod's, a wrong --istio-ca-hostname, a plaintext port) is
     * the configuration's, which no retry mends: it exits 4, as before (a final new-user pass found it waited for).
     */
    private static boolean unreachable(Throwable e) {
        boolean transientStatus = false;
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof io.zerohop.identity.istio.IstioCaClient.CaException ca) {
                transientStatus = "UNAVAILABLE".equals(ca.grpcStatus()) || "DEADLINE_EXCEEDED".equals(ca.grpcStatus());
            }
            if (c instanceof javax.net.ssl.SSLException || c instanceof java.security.cert.CertificateException) {
                return false;
            }
        }
        return transientStatus;
    }

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return manager.defaultIdentity();
    }

    @Override
    public void forget(SpiffeId id) {
        manager.forget(id);
    }

    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        return manager.svid(id);
    }

    @Override
    public CompletableFuture<X509Svid> prefetch(SpiffeId id) {
        return manager.prefetch(id);
    }

    @Override
    public Optional<CertificateState> certificateState(SpiffeId id) {
        return manager.certificateState(id);
    }

    @Override
    public Optional<java.util.Map<SpiffeId, CertificateState>> certificateStates() {
        return manager.certificateStates();
    }

    @Override
    public X509BundleSet bundles() {
        return manager.bundles();
    }

    @Override
    public void addListener(IdentityListener listener) {
        manager.addListener(listener);
    }

    @Override
    public void removeListener(IdentityListener listener) {
        manager.removeListener(listener);
    }

    @Override
    public void close() {
        client.removeMeshRootsListener(followRoots);
        manager.close();
        client.close();
    }
}
