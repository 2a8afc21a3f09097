package io.zerohop.benchmarks;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.Csr;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.identity.internal.X509;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * SVID issuance by the in-memory CA, one thread.
 *
 * <ul>
 *   <li>{@code issueSvid}: what {@code InMemoryCa.issue(id)} costs end to end: a fresh ECDSA P-256 key
 *       pair, the leaf signed by the CA (ECDSA P-256 / SHA-256), wrapped and validated as an
 *       X.509-SVID (node mode issues one per workload identity).</li>
 *   <li>{@code signCsr}: the CA side only (Istio-CA style): parse and verify a PKCS#10 request made
 *       once in set-up, sign the leaf. No key generation.</li>
 * </ul>
 * {@code intermediate}: whether the CA signs with an intermediate (chain of two) or the root.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class IssuanceBenchmark {
    @Param({"false"})
    public boolean intermediate;

    private InMemoryCa ca;
    private SpiffeId id;
    private byte[] csr;

    @Setup
    public void setUp() {
        ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(intermediate).build();
        id = SpiffeIds.istio("cluster.local", "prod", "frontend");
        csr = Csr.create(X509.newP256(), id);
    }

    @TearDown
    public void tearDown() {
        ca.close();
    }

    @Benchmark
    public X509Svid issueSvid() {
        return ca.issue(id);
    }

    @Benchmark
    public List<X509Certificate> signCsr() throws Exception {
        return ca.signCsr(csr, Duration.ofHours(24));
    }
}
