package io.zerohop.benchmarks;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.util.Set;
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
 * A full mutual TLS 1.3 handshake with SPIFFE verification on both sides, in memory (no sockets,
 * no session resumption), one thread: what one core sustains. The CA signs leaves with an
 * intermediate, so each side sends and verifies a chain of two. SVID issuance: {@link IssuanceBenchmark}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class HandshakeBenchmark {
    @Param({"OPENSSL", "JDK"})
    public String provider;

    private InMemoryCa ca;
    private MeshTls tls;
    private SslContext server;
    private SslContext client;
    private final EnginePair pair = new EnginePair();
    private SpiffeId id;

    @Setup
    public void setUp() {
        ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        tls = MeshTls.builder(ca).sslProvider(SslProvider.valueOf(provider)).sessionResumption(false).build();
        SpiffeId backend = SpiffeIds.istio("cluster.local", "prod", "backend");
        id = SpiffeIds.istio("cluster.local", "prod", "frontend");
        server = tls.server(backend).join();
        client = tls.client(id, Set.of(backend)).join();
    }

    @TearDown
    public void tearDown() {
        tls.close();
    }

    @Benchmark
    public void mutualHandshake() throws Exception {
        pair.handshake(client, server);
    }

    private long destinations;

    /**
     * A client context for a destination identity not seen before: what a node proxy pays the first
     * time it dials each new destination identity (the SVID is already held).
     */
    @Benchmark
    public SslContext clientContextForNewDestination() {
        SpiffeId dst = SpiffeIds.istio("cluster.local", "prod", "dst-" + destinations++);
        return tls.client(id, Set.of(dst)).join();
    }

    /**
     * A workload's first context: a fresh {@code MeshTls} (nothing cached) turns the SVID the CA already
     * holds into key managers and builds the server context; what a node proxy pays once per local
     * workload identity and again at every rotation (before SvidKeyManager: a PKCS#12 store, PBKDF2
     * twice, ~4.8 ms; benchmarks/results/keymanager-*.md).
     */
    @Benchmark
    public boolean serverContextForNewSvid() {
        try (MeshTls fresh = MeshTls.builder(ca).sslProvider(SslProvider.valueOf(provider)).sessionResumption(false).build()) {
            SslContext ctx = fresh.server(id).join();
            boolean server = ctx.isServer();
            ReferenceCountUtil.release(ctx);
            return server;
        }
    }
}
