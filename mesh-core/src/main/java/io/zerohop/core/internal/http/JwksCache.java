package io.zerohop.core.internal.http;

import io.zerohop.policy.JwtRule;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keys each {@link JwtRule} verifies with, as istiod resolves them for the sidecar (istio/istio
 * pilot/pkg/model/jwks_resolver.go {@code JwksResolver}, in its default {@code PILOT_JWT_ENABLE_REMOTE_JWKS=false} mode,
 * where istiod fetches and the sidecar gets the keys inline): an inline {@code jwks} as it is; a {@code jwksUri} fetched
 * with a GET (the rule's {@code timeout}, istiod's 5 s by default, for the whole GET, body included, as
 * {@code getRemoteContentWithRetry}'s context; a 2xx whose body is a JSON object with a {@code keys}
 * array, {@code validateJWKSFormat}), or, when the rule has neither, the {@code jwks_uri} of the issuer's OpenID
 * configuration ({@code <issuer>/.well-known/openid-configuration}, {@code resolveJwksURIUsingOpenID}). Fetched keys are
 * refreshed every 20 minutes ({@code PILOT_JWT_PUB_KEY_REFRESH_INTERVAL}); a refresh that fails retries 7 times a second
 * apart ({@code networkFetchRetryCountOnRefreshFlow}, {@code JwtPubKeyRetryInterval}), keeps the keys it had, and the next
 * refresh comes after a minute, then twice as long each time up to an hour ({@code refreshCache}). A first fetch that
 * fails gives istiod's {@code PublicOnlyJwks} (an RSA public key whose private key was discarded, {@code BuildLocalJwks}:
 * "fail closed"), so every token fails, and is retried in the background at once ({@code jwksuriChannel}, 7 retries). An
 * entry unused for 7 days is dropped ({@code JwtPubKeyEvictionDuration}).
 * <p>
 * istiod pushes a rule to the sidecar only with its keys resolved, so Envoy never has the rule without keys. Here a rule
 * is seen first on a request; until its first fetch has an answer, {@link #keys} is null and a request with a token
 * waits for {@link #answered} (at most the rule's timeout), as Envoy's own remote-JWKS mode waits for its fetch
 * ({@link JwtAuthn.Hold}), and is then verified with the keys fetched, or refused with Envoy's "Jwks remote fetch is
 * failed" when the fetch failed ({@link #publicOnly()}) or did not answer in time: never verified against nothing, never
 * let through. A request without a token does not need keys and goes on.
 * <p>
 * Fetches run on the JDK's HTTP client, whose threads complete them; timers run on {@code timers} (an event loop of the
 * mesh: a timer only starts a fetch, it never waits for one). Thread-safe.
 */
final class JwksCache {
    private static final Logger log = LoggerFactory.getLogger(JwksCache.class);

    /** istiod's {@code PublicOnlyJwks}: nobody holds its private key, so nothing verifies against it. */
    static final String PUBLIC_ONLY_JWKS = "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"0xObjM0UvS_oaazjpEYlAbwctEJ4L8pH3OuTb7qth7gUwqet-"
            + "EzQB4dgFdvSdMgrLnSncQGRjpEYz3F3viIbH-3EN3TxSlPNviHxeOdyiBVfumN8dMxbLvVJUpfNOnvmMxJcl-8NNjAwcOjk4otSALaYgYYyOPyvKtgVdrQr"
            + "-FoubWX4yrjxW-MJ2-7OBeepUUNOsVwGV23YX03sVkkyvY3otRflkBcY3_HKpBxJl9wk2GyOShN4_PNUF9-vwfnvOXMbCDX-w4PTef4geeb_GiT40YCKHT"
            + "KMSPVanGRn5GExIWmki-mmqh94-mPTJyBR74ShspL3BxPZitDL574T1w\"}]}";
    /**
     * The keys of a remote rule whose first fetch failed, one instance: a request held for that fetch tells it by identity
     * and is refused as Envoy's remote mode refuses it ({@link JwtAuthn}); later ones get istiod's "Jwt verification fails".
     */
    static Jwks publicOnly() {
        return PublicOnly.KEYS;
    }

    /**
     * Parsed on first use, not with this class: every L7 mesh makes a {@code JwksCache}, and parsing here loaded
     * nimbus-jose-jwt and its Gson (with {@code java.sql}) into every proxy start (a CI run, {@code StartFootprintTest}).
     */
    private static final class PublicOnly {
        static final Jwks KEYS = Jwks.parse(PUBLIC_ONLY_JWKS);
    }
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);
    static final Duration REFRESH = Duration.ofMinutes(20);
    static final Duration REFRESH_ON_FAILURE = Duration.ofMinutes(1);
    static final Duration REFRESH_ON_FAILURE_MAX = Duration.ofMinutes(60);
    static final Duration RETRY = Duration.ofSeconds(1);
    static final int RETRIES = 7;
    static final Duration EVICTION = Duration.ofDays(7);
    private static final String OPENID_SUFFIX = "/.well-known/openid-configuration";

    private final java.util.function.Supplier<HttpClient> clients;
    private volatile HttpClient client;
    private final ScheduledExecutorService timers;
    private final Duration refresh;
    private final Duration retry;
    private final Map<String, Jwks> inline = new ConcurrentHashMap<>();
    private final Map<Remote, Entry> remote = new ConcurrentHashMap<>();

    private record Remote(String issuer, String jwksUri) {}

    /** One fetched key set. {@code keys} null until the first fetch has an answer. */
    private final class Entry {
        final Remote key;
        volatile Duration timeout;
        volatile Jwks keys;
        volatile long lastUsed = System.nanoTime();
        volatile Duration nextRefresh;
        volatile boolean fetched;
        /** Completed with the first answer (the keys fetched, or the public-only set). */
        final CompletableFuture<Void> answered = new CompletableFuture<>();
        /** Completed by each refresh that ended (either way), then replaced: for tests. */
        volatile CompletableFuture<Void> refreshed = new CompletableFuture<>();

        Entry(Remote key, Duration timeout) {
            this.key = key;
            this.timeout = timeout;
            this.nextRefresh = refresh;
        }
    }

    /** @param clients the HTTP client, made when the first key set is fetched (its selector thread with it) */
    JwksCache(java.util.function.Supplier<HttpClient> clients, ScheduledExecutorService timers) {
        this(clients, timers, REFRESH, RETRY);
    }

    /** With other refresh and retry intervals, for tests. */
    JwksCache(java.util.function.Supplier<HttpClient> clients, ScheduledExecutorService timers, Duration refresh, Duration retry) {
        this.clients = clients;
        this.timers = timers;
        this.refresh = refresh;
        this.retry = retry;
    }

    /** A client as istiod's: the JDK's trust store, redirects followed as Go's client follows them. */
    static HttpClient defaultClient() {
        return HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).connectTimeout(DEFAULT_TIMEOUT).build();
    }

    /**
     * The keys of {@code rule}: never null for an inline {@code jwks} ({@link Jwks#valid()} false when it has no valid
     * key); for a fetched one, null until its first fetch has an answer (the fetch starts with the first call).
     */
    Jwks keys(JwtRule rule) {
        if (rule.jwks() != null && !rule.jwks().isEmpty()) {
            Jwks j = inline.get(rule.jwks());
            if (j == null) {
                if (inline.size() >= 256) {
                    // Policies that came and went: parsed again when used again.
                    inline.clear();
                }
                j = Jwks.parse(rule.jwks());
                inline.put(rule.jwks(), j);
            }
            return j;
        }
        Remote k = new Remote(rule.issuer(), rule.jwksUri() == null ? "" : rule.jwksUri());
        Duration timeout = rule.timeout() == null ? DEFAULT_TIMEOUT : rule.timeout();
        Entry e = remote.get(k);
        if (e == null) {
            Entry created = new Entry(k, timeout);
            e = remote.putIfAbsent(k, created);
            if (e == null) {
                e = created;
                Entry first = created;
                fetch(first, 0).whenComplete((jwks, failure) -> firstAnswer(first, jwks, failure));
            }
        }
        e.lastUsed = System.nanoTime();
        e.timeout = timeout;
        return e.keys;
    }

    /**
     * Completes once {@code rule}'s keys have their first answer (fetched, or the public-only set after a failure); at
     * once for inline keys. Starts the fetch if nothing did. What a request held for the keys waits for
     * ({@link JwtAuthn.Hold}), and what tests wait for instead of sleeping. Completed on the HTTP client's threads (or a
     * timer's): never blocks anything, and whoever waits hands its continuation to its own loop.
     */
    CompletableFuture<Void> answered(JwtRule rule) {
        keys(rule);
        if (rule.jwks() != null && !rule.jwks().isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        Entry e = remote.get(new Remote(rule.issuer(), rule.jwksUri() == null ? "" : rule.jwksUri()));
        return e == null ? CompletableFuture.completedFuture(null) : e.answered;
    }

    /** Completes when the next refresh of {@code rule}'s fetched keys has ended, either way. For tests. */
    CompletableFuture<Void> nextRefresh(JwtRule rule) {
        Entry e = remote.get(new Remote(rule.issuer(), rule.jwksUri() == null ? "" : rule.jwksUri()));
        return e == null ? CompletableFuture.completedFuture(null) : e.refreshed;
    }

    private void firstAnswer(Entry e, Jwks jwks, Throwable failure) {
        if (failure == null) {
            e.keys = jwks;
            e.fetched = true;
            e.answered.complete(null);
            schedule(e, refresh);
            return;
        }
        // A rule without issuer takes tokens of any issuer, so "of this issuer" would name none.
        log.warn("JWKS fetch failed for issuer {} ({}), using a public-only JWKS (every token {} is refused) "
                + "until a fetch succeeds: {}", issuer(e.key), where(e.key),
                e.key.issuer.isEmpty() ? "these keys would verify" : "of this issuer", reason(failure));
        e.keys = publicOnly();
        e.answered.complete(null);
        // istiod's main flow hands a failed key to the background job at once (jwksuriChannel), which retries.
        schedule(e, Duration.ZERO);
    }

    private void schedule(Entry e, Duration after) {
        if (timers == null) {
            return; // no event loops (an HttpEnforcement built without them, in tests): no refreshes
        }
        try {
            timers.schedule(() -> refreshNow(e), after.toNanos(), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException stopped) {
            // the mesh is stopping: no more refreshes
        }
    }

    private void refreshNow(Entry e) {
        if (System.nanoTime() - e.lastUsed >= EVICTION.toNanos()) {
            remote.remove(e.key, e);
            log.info("dropped the cached JWKS of issuer {} ({}): unused for {}", issuer(e.key), where(e.key), EVICTION);
            return;
        }
        fetch(e, RETRIES).whenComplete((jwks, failure) -> {
            CompletableFuture<Void> done = e.refreshed;
            e.refreshed = new CompletableFuture<>();
            if (failure == null) {
                // After a WARN that said the issuer's tokens are refused (or checked with old keys), an operator needs the
                // line that says they no longer are: a new-user pass found the recovery silent.
                boolean recovered = !e.fetched || !e.nextRefresh.equals(refresh);
                e.keys = jwks;
                e.fetched = true;
                e.nextRefresh = refresh;
                if (recovered) {
                    log.info("JWKS fetch for issuer {} ({}) succeeded after a failure: its tokens are checked with the fetched"
                            + " keys again", issuer(e.key), where(e.key));
                }
                schedule(e, refresh);
                done.complete(null);
                return;
            }
            Duration next = e.nextRefresh.equals(refresh) ? REFRESH_ON_FAILURE.compareTo(refresh) < 0 ? REFRESH_ON_FAILURE : refresh
                    : e.nextRefresh.multipliedBy(2);
            if (next.compareTo(REFRESH_ON_FAILURE_MAX) > 0) {
                next = REFRESH_ON_FAILURE_MAX;
            }
            e.nextRefresh = next;
            log.warn("JWKS refresh failed for issuer {} ({}), keeping {} and trying again in {}: {}", issuer(e.key), where(e.key),
                    e.fetched ? "the keys last fetched" : "the public-only JWKS", next, reason(failure));
            schedule(e, next);
            done.complete(null);
        });
    }

    /** The keys at {@code e}'s URI (OpenID discovery first when it has none), {@code retries} more tries on failure. */
    private CompletableFuture<Jwks> fetch(Entry e, int retries) {
        CompletableFuture<Jwks> out = new CompletableFuture<>();
        attempt(e, retries, out);
        return out;
    }

    private void attempt(Entry e, int retriesLeft, CompletableFuture<Jwks> out) {
        CompletableFuture<String> uri = e.key.jwksUri.isEmpty()
                ? get(trimSlash(e.key.issuer) + OPENID_SUFFIX, e.timeout).thenApply(JwksCache::jwksUriOf)
                : CompletableFuture.completedFuture(e.key.jwksUri);
        uri.thenCompose(u -> get(u, e.timeout)).thenApply(JwksCache::validated).whenComplete((jwks, failure) -> {
            if (failure == null) {
                out.complete(jwks);
            } else if (retriesLeft > 0 && timers != null) {
                try {
                    timers.schedule(() -> attempt(e, retriesLeft - 1, out), retry.toNanos(), TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.RejectedExecutionException stopped) {
                    out.completeExceptionally(failure);
                }
            } else {
                out.completeExceptionally(failure);
            }
        });
    }

    private CompletableFuture<String> get(String uri, Duration timeout) {
        HttpRequest req;
        try {
            req = HttpRequest.newBuilder(URI.create(uri)).timeout(timeout).GET().build();
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("invalid URI " + uri + ": " + e.getMessage()));
        }
        HttpClient c = client;
        if (c == null) {
            synchronized (this) {
                c = client;
                if (c == null) {
                    c = clients.get();
                    client = c;
                }
            }
        }
        CompletableFuture<HttpResponse<String>> sent = c.sendAsync(req, HttpResponse.BodyHandlers.ofString());
        // The whole GET, its body included, within the timeout, as istiod bounds it (pilot/pkg/model/jwks_resolver.go
        // getRemoteContentWithRetry: one context.WithTimeout over client.Do and io.ReadAll of the body). The JDK's request
        // timeout may end at the response's head: until 7 December a server that sent its head and stalled left a first
        // fetch without an answer for good, and every token of the rule held for its timeout and refused
        // (JwksFetchTimeoutTest). The exchange is cancelled, which closes its connection.
        CompletableFuture<HttpResponse<String>> bounded = sent.copy().orTimeout(timeout.toNanos(), TimeUnit.NANOSECONDS)
                .exceptionallyCompose(failure -> {
                    if (failure instanceof java.util.concurrent.TimeoutException) {
                        sent.cancel(true);
                        return CompletableFuture.failedFuture(new java.net.http.HttpTimeoutException("GET " + uri
                                + ": no complete answer within " + timeout));
                    }
                    return CompletableFuture.failedFuture(failure);
                });
        return bounded.thenApply(r -> {
            if (r.statusCode() < 200 || r.statusCode() >= 300) {
                String body = r.body() == null ? "" : r.body();
                throw new IllegalStateException("GET " + uri + ": status " + r.statusCode() + ", message "
                        + (body.length() > 100 ? body.substring(0, 100) + "(truncated)" : body));
            }
            return r.body();
        });
    }

    private static String jwksUriOf(String discovery) {
        Object u;
        try {
            u = com.nimbusds.jose.util.JSONObjectUtils.parse(discovery).get("jwks_uri");
        } catch (java.text.ParseException e) {
            throw new IllegalStateException("OpenID configuration is not JSON: " + e.getMessage());
        }
        if (!(u instanceof String s)) {
            throw new IllegalStateException("invalid jwks_uri " + u + " in openID discovery configuration");
        }
        return s;
    }

    /** istiod's {@code validateJWKSFormat}: a JSON object with a {@code keys} array, else the fetch failed. */
    private static Jwks validated(String body) {
        Map<String, Object> doc;
        try {
            doc = com.nimbusds.jose.util.JSONObjectUtils.parse(body);
        } catch (java.text.ParseException e) {
            throw new IllegalStateException("not a valid JWKS: not valid JSON");
        }
        if (!doc.containsKey("keys")) {
            throw new IllegalStateException("not a valid JWKS: missing \"keys\" field");
        }
        if (!(doc.get("keys") instanceof java.util.List)) {
            throw new IllegalStateException("not a valid JWKS: \"keys\" is not an array");
        }
        return Jwks.parse(body);
    }

    private static String trimSlash(String issuer) {
        return issuer.endsWith("/") ? issuer.substring(0, issuer.length() - 1) : issuer;
    }

    /** A rule without issuer (jwksUri only) takes any: its lines say so rather than print an empty name. */
    private static String issuer(Remote k) {
        return k.issuer.isEmpty() ? "<any>" : k.issuer;
    }

    private static String where(Remote k) {
        return k.jwksUri.isEmpty() ? "OpenID discovery" : k.jwksUri;
    }

    private static String reason(Throwable t) {
        Throwable c = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
        return c.getMessage() == null ? c.getClass().getSimpleName() : c.getClass().getSimpleName() + ": " + c.getMessage();
    }
}
