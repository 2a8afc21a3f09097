package io.zerohop.core.internal.http;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSObject;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.Payload;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The RequestAuthentication step of one request on the request path ({@link JwtAuthn#authenticate}, what
 * {@code RequestAdmission} and {@code H2Proxy} call on the event loop): a request head with {@code Authorization: Bearer
 * <token>} under one rule with inline keys (as istiod hands them to Envoy), the token found, parsed (base64url, JSON
 * header and payload), its issuer, time and audience checked, its signature verified, its payload made the
 * {@code RequestAuth}. {@code alg} = {@code RS256} (an RSA 2048 key, nimbus-jose-jwt's generator) or {@code ES256} (P-256);
 * {@code noToken} is the same step on a request without a token (the rules sorted, the locations read).
 * {@code tokens} = {@code same}: one token on every request, its signature verified once and then found in the key set's
 * cache ({@link Jwks#VERIFIED_SIGNATURES}); {@code distinct}: {@value #DISTINCT} tokens in turn, far more than the cache
 * holds, so nearly every request verifies its signature (what a request cost before the cache, and what a new token
 * costs). The rule forwards the token ({@code forwardOriginalToken}), so the one request head can be
 * used again (without it, the step removes the header: one more header map removal). In package
 * {@code io.zerohop.core.internal.http} to reach the package-private step; run from the shaded jar's class path.
 * With {@code -prof gc}: the bytes allocated per request.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class JwtVerifyBenchmark extends io.zerohop.benchmarks.ThreadCpuPerOp {
    public JwtVerifyBenchmark() {
        super(true);
    }

    static final String ISSUER = "https://issuer.example.com";

    @Param({"RS256", "ES256"})
    public String alg;

    @Param({"same", "distinct"})
    public String tokens;

    static final int DISTINCT = 4096;
    private HttpRequest[] distinct;
    private int next;

    private JwtAuthn authn;
    private List<JwtRule> rules;
    private HttpRequest withToken;
    private HttpRequest withoutToken;
    private Conn conn;

    @Setup
    public void setUp() throws Exception {
        RSAKey rsa = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
        ECKey ec = new ECKeyGenerator(Curve.P_256).keyID("ec-1").generate();
        String jwks = new JWKSet(List.of(rsa.toPublicJWK(), ec.toPublicJWK())).toString();
        rules = List.of(new JwtRule(ISSUER, List.of("backend"), null, jwks, List.of(), List.of(), List.of(), null, true, List.of(), null,
                "bench/jwt"));
        authn = new JwtAuthn(new JwksCache(JwksCache::defaultClient, null), () -> System.currentTimeMillis() / 1000);
        Map<String, Object> claims = new LinkedHashMap<>();
        claims.put("iss", ISSUER);
        claims.put("sub", "alice");
        claims.put("aud", "backend");
        claims.put("iat", System.currentTimeMillis() / 1000);
        claims.put("exp", System.currentTimeMillis() / 1000 + 24 * 3600);
        claims.put("scope", "read write");
        String token = alg.equals("RS256") ? sign(new RSASSASigner(rsa), JWSAlgorithm.RS256, "rsa-1", claims)
                : sign(new ECDSASigner(ec), JWSAlgorithm.ES256, "ec-1", claims);
        withToken = request();
        withToken.headers().set("authorization", "Bearer " + token);
        distinct = new HttpRequest[tokens.equals("distinct") ? DISTINCT : 1];
        distinct[0] = withToken;
        for (int i = 1; i < distinct.length; i++) {
            claims.put("jti", "t" + i);
            distinct[i] = request();
            distinct[i].headers().set("authorization", "Bearer " + (alg.equals("RS256")
                    ? sign(new RSASSASigner(rsa), JWSAlgorithm.RS256, "rsa-1", claims)
                    : sign(new ECDSASigner(ec), JWSAlgorithm.ES256, "ec-1", claims)));
        }
        withoutToken = request();
        conn = new Conn("inbound", SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/client"),
                SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/backend"), new InetSocketAddress("127.0.0.1", 40000),
                new InetSocketAddress("127.0.0.1", 40000), new InetSocketAddress("127.0.0.2", 8080),
                new WorkloadRef("bench", "backend", "backend", Map.of()), null, SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/backend"));
        JwtAuthn.Outcome o = verify();
        if (o.auth() == null || o.refused()) {
            throw new IllegalStateException("the token did not verify: " + o);
        }
    }

    private static HttpRequest request() {
        HttpRequest r = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/api/items?page=2");
        r.headers().set("host", "backend.bench");
        r.headers().set("user-agent", "bench");
        r.headers().set("accept", "*/*");
        return r;
    }

    private static String sign(JWSSigner signer, JWSAlgorithm alg, String kid, Map<String, Object> claims) throws Exception {
        JWSObject o = new JWSObject(new JWSHeader.Builder(alg).keyID(kid).type(JOSEObjectType.JWT).build(), new Payload(claims));
        o.sign(signer);
        return o.serialize();
    }

    /** One request's step with a token: parsed, checked, its signature verified or found verified ({@code tokens}). */
    @Benchmark
    public JwtAuthn.Outcome verify() {
        ops++;
        HttpRequest r = distinct[next];
        next = next + 1 == distinct.length ? 0 : next + 1;
        return authn.authenticate(conn, rules, JwtAuthn.of(r), "http", "backend.bench");
    }

    /** The same step on a request without a token (what every request to the destination pays). */
    @Benchmark
    public JwtAuthn.Outcome noToken() {
        ops++;
        return authn.authenticate(conn, rules, JwtAuthn.of(withoutToken), "http", "backend.bench");
    }
}
