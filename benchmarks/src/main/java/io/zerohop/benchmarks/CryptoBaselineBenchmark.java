package io.zerohop.benchmarks;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
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
 * The crypto baselines DESIGN.md section 7 sizes the tunnel against (AES-128-GCM on 16 KiB blocks, ECDSA P-256 sign
 * and verify, per core), measured on the machine at hand so that a tunnel's MB/s can be read against what its cipher
 * allows. Operations per second, one thread; 16 KiB is TLS's largest record.
 *
 * <ul>
 *   <li>{@code aes128GcmSealJdk}: the JDK's {@code AES/GCM/NoPadding} sealing {@value #RECORD} bytes with a fresh
 *       nonce each time, the raw cipher with no record layer.
 *   <li>{@code tlsRecordSealOpen}: {@value #RECORD} bytes of TLS 1.3 records (one record under BoringSSL, two under the JDK) sealed by a client {@link SSLEngine} and
 *       opened by a server one, of the provider the proxy runs ({@code OPENSSL}, BoringSSL through netty-tcnative) or
 *       the JDK's, after a mutual handshake with the in-memory CA's SVIDs: the cipher as the tunnel pays it, twice (the
 *       sender's seal and the receiver's open), without sockets or HTTP/2. The suite negotiated is printed at set-up.
 *   <li>{@code p256SignJdk}, {@code p256VerifyJdk}: {@code SHA256withECDSA} over a 32-byte message with the JDK's
 *       SunEC, the algorithm of a handshake's CertificateVerify. Under BoringSSL the handshake signs with BoringSSL's
 *       own code, which this does not reach; {@link HandshakeBenchmark} measures whole handshakes with it.
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CryptoBaselineBenchmark {
    static final int RECORD = 16 * 1024;

    /** The raw cipher and signature state. */
    @State(Scope.Thread)
    public static class Jdk {
        final byte[] plain = new byte[RECORD];
        final byte[] sealed = new byte[RECORD + 16];
        final byte[] nonce = new byte[12];
        final byte[] message = new byte[32];
        Cipher gcm;
        SecretKeySpec key;
        long counter;
        Signature signer;
        Signature verifier;
        byte[] signature;

        @Setup
        public void setUp() throws GeneralSecurityException {
            ThreadLocalRandom.current().nextBytes(plain);
            ThreadLocalRandom.current().nextBytes(message);
            byte[] k = new byte[16];
            ThreadLocalRandom.current().nextBytes(k);
            key = new SecretKeySpec(k, "AES");
            gcm = Cipher.getInstance("AES/GCM/NoPadding");
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair pair = g.generateKeyPair();
            signer = Signature.getInstance("SHA256withECDSA");
            signer.initSign(pair.getPrivate());
            verifier = Signature.getInstance("SHA256withECDSA");
            verifier.initVerify(pair.getPublic());
            signer.update(message);
            signature = signer.sign();
        }
    }

    /** Two engines of one provider, past their mutual handshake. */
    @State(Scope.Thread)
    public static class Tls {
        @Param({"OPENSSL", "JDK"})
        public String provider;

        MeshTls tls;
        SslContext server;
        SslContext client;
        SSLEngine sender;
        SSLEngine receiver;
        final ByteBuffer plain = ByteBuffer.allocateDirect(RECORD);
        // Room for what an engine asks of each call (the JDK wants a whole packet buffer, ~16.3 KiB, free before each wrap).
        final ByteBuffer wire = ByteBuffer.allocateDirect(4 * RECORD);
        final ByteBuffer opened = ByteBuffer.allocateDirect(4 * RECORD);

        @Setup
        public void setUp() throws SSLException {
            InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").build();
            tls = MeshTls.builder(ca).sslProvider(SslProvider.valueOf(provider)).sessionResumption(false).build();
            SpiffeId backend = SpiffeIds.istio("cluster.local", "prod", "backend");
            server = tls.server(backend).join();
            client = tls.client(SpiffeIds.istio("cluster.local", "prod", "frontend"), Set.of(backend)).join();
            SSLEngine[] pair = new EnginePair().connected(client, server);
            sender = pair[0];
            receiver = pair[1];
            byte[] random = new byte[RECORD];
            ThreadLocalRandom.current().nextBytes(random);
            plain.put(random).flip();
            System.out.println("# " + provider + ": " + sender.getSession().getProtocol() + " "
                    + sender.getSession().getCipherSuite());
        }

        @TearDown
        public void tearDown() {
            ReferenceCountUtil.release(sender);
            ReferenceCountUtil.release(receiver);
            ReferenceCountUtil.release(client);
            ReferenceCountUtil.release(server);
            tls.close();
        }
    }

    @Benchmark
    public int aes128GcmSealJdk(Jdk s) throws GeneralSecurityException {
        long n = ++s.counter;
        for (int i = 0; i < 8; i++) {
            s.nonce[4 + i] = (byte) (n >>> (8 * i));
        }
        s.gcm.init(Cipher.ENCRYPT_MODE, s.key, new GCMParameterSpec(128, s.nonce));
        return s.gcm.doFinal(s.plain, 0, RECORD, s.sealed, 0);
    }

    @Benchmark
    public int tlsRecordSealOpen(Tls s) throws SSLException {
        s.plain.rewind();
        s.wire.clear();
        // The JDK's engine seals a little less than 16 KiB per record (16,367 bytes here), so 16 KiB is two records
        // there and one under BoringSSL: the loop moves the same bytes either way.
        while (s.plain.hasRemaining()) {
            SSLEngineResult sealed = s.sender.wrap(s.plain, s.wire);
            if (sealed.getStatus() != SSLEngineResult.Status.OK) {
                throw new SSLException("wrap: " + sealed);
            }
        }
        s.wire.flip();
        s.opened.clear();
        int produced = 0;
        while (s.wire.hasRemaining()) {
            SSLEngineResult opened = s.receiver.unwrap(s.wire, s.opened);
            if (opened.getStatus() != SSLEngineResult.Status.OK) {
                throw new SSLException("unwrap: " + opened);
            }
            produced += opened.bytesProduced();
        }
        if (produced != RECORD) {
            throw new SSLException("opened " + produced + " of " + RECORD + " bytes");
        }
        return produced;
    }

    @Benchmark
    public byte[] p256SignJdk(Jdk s) throws GeneralSecurityException {
        s.signer.update(s.message);
        return s.signer.sign();
    }

    @Benchmark
    public boolean p256VerifyJdk(Jdk s) throws GeneralSecurityException {
        s.verifier.update(s.message);
        if (!s.verifier.verify(s.signature)) {
            throw new GeneralSecurityException("the signature did not verify");
        }
        return true;
    }
}
