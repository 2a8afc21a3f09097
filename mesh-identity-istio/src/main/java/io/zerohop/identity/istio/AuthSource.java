package io.zerohop.identity.istio;

import io.grpc.ClientCall;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.istio.IstioCaClient.CaException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Supplier;

/**
 * How a request to the Istio CA authenticates: the service-account token as
 * {@code authorization: Bearer ...}, read anew for every request (the kubelet rotates projected
 * tokens in place), plus the extra headers such as {@code clusterid}. ztunnel's {@code AuthSource}
 * (istio/ztunnel src/identity/auth.rs), a gRPC interceptor of the same two headers.
 */
final class AuthSource {
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final Supplier<String> token;
    /** Where the token comes from, for messages ("/var/run/secrets/tokens/istio-token"); null without a token. */
    final String tokenSource;
    private final Map<String, String> headers;

    /**
     * @param token called for every request; null sends no {@code authorization} header
     * @param headers lower-case names, sent as they are
     */
    AuthSource(Supplier<String> token, String tokenSource, Map<String, String> headers) {
        this.token = token;
        this.tokenSource = tokenSource;
        this.headers = Map.copyOf(headers);
    }

    /** A token read from {@code file} (a projected service-account token) for every request. */
    static Supplier<String> tokenFile(Path file) {
        return () -> {
            try {
                return Files.readString(file, StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw new UncheckedIOException(e.getClass().getSimpleName() + " " + e.getMessage(), e);
            }
        };
    }

    /**
     * The headers of one request for {@code id}.
     *
     * @throws CaException when the token cannot be read or is empty (nothing is sent then)
     */
    Metadata metadata(SpiffeId id) throws CaException {
        Metadata md = new Metadata();
        if (token != null) {
            String t;
            try {
                t = token.get();
            } catch (RuntimeException e) {
                throw new CaException("cannot read the bearer token for " + id + " from " + tokenSource + ": " + e.getMessage(), null, e);
            }
            if (t == null || t.isBlank()) {
                throw new CaException("bearer token from " + tokenSource + " is empty; cannot request " + id, null, null);
            }
            md.put(AUTHORIZATION, "Bearer " + t.strip());
        }
        for (Map.Entry<String, String> h : headers.entrySet()) {
            md.put(Metadata.Key.of(h.getKey(), Metadata.ASCII_STRING_MARSHALLER), h.getValue());
        }
        return md;
    }

    /** {@code call} sending {@code extra} along with the headers gRPC sets. */
    static <Q, R> ClientCall<Q, R> withHeaders(ClientCall<Q, R> call, Metadata extra) {
        return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
            @Override
            public void start(Listener<R> listener, Metadata headers) {
                headers.merge(extra);
                super.start(listener, headers);
            }
        };
    }
}
