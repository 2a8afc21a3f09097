package io.zerohop.identity.istio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.CallOptions;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.Csr;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.istio.internal.IstioCaMessages;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateRequest;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateResponse;
import io.zerohop.testing.FakeIstioCa;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The fake istiod answers a failed signing as istiod's {@code CreateCertificate} does (istio/istio
 * security/pkg/server/ca/server.go: {@code status.Errorf(signErr.HTTPErrorCode(), "CSR signing error (%v)", ...)};
 * security/pkg/pki/ca/ca.go {@code sign}: the CSR is parsed and its signature checked before the lifetime;
 * pki/util/generate_cert.go refuses to sign once the signing certificate has expired, a CertGenError, INTERNAL).
 * Raw calls, so the CSR and the lifetime are the test's. Until 6 December every failure was INVALID_ARGUMENT and a bad
 * CSR with too long a lifetime was refused for its lifetime.
 */
class FakeIstioCaSigningErrorsTest {
    private static final SpiffeId CART = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart");
    private static final Metadata.Key<String> AUTH = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final MethodDescriptor<CertificateRequest, CertificateResponse> CREATE = MethodDescriptor
            .newBuilder(IstioCaMessages.REQUEST, IstioCaMessages.RESPONSE)
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(FakeIstioCa.METHOD).build();

    private FakeIstioCa server;
    private ManagedChannel channel;

    @AfterEach
    void close() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.close();
        }
    }

    private void start(InMemoryCa ca) throws Exception {
        server = new FakeIstioCa(ca, "token-1", null);
        server.caller(new FakeIstioCa.Pod("shop", "cart-7d9f", "uid-cart", "cart", "node-a"));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    private Status call(String csr, Duration validity) {
        Metadata h = new Metadata();
        h.put(AUTH, "Bearer token-1");
        var ch = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(h));
        StatusRuntimeException e = (StatusRuntimeException) assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(ch, CREATE,
                CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), new CertificateRequest(csr, validity.toSeconds(), null)))
                .isInstanceOf(StatusRuntimeException.class).actual();
        return e.getStatus();
    }

    private static String csr() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return Csr.toPem(Csr.create(g.generateKeyPair(), CART));
    }

    @Test
    void anExpiredSigningCertificateIsInternal() throws Exception {
        CertificateManagerBackoffTest.TestClock clock = new CertificateManagerBackoffTest.TestClock();
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").caTtl(Duration.ofHours(1)).clock(clock).build();
        start(ca);
        clock.advance(Duration.ofHours(2));
        Status s = call(csr(), Duration.ofHours(1));
        assertThat(s.getCode()).isEqualTo(Status.Code.INTERNAL);
        assertThat(s.getDescription()).startsWith("CSR signing error (").contains("expired at");
    }

    @Test
    void aBadCsrIsRefusedBeforeItsLifetimeIsLookedAt() throws Exception {
        start(InMemoryCa.create("cluster.local"));
        String good = csr();
        // The signature's last byte changed (the s of its ECDSA pair): parses, but no longer verifies (istiod's CheckSignature).
        byte[] der = Csr.fromPem(good);
        der[der.length - 1] ^= 1;
        for (String bad : new String[] {"not a CSR", Csr.toPem(der)}) {
            Status s = call(bad, Duration.ofDays(91));
            assertThat(s.getCode()).as(bad).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(s.getDescription()).as(bad).startsWith("CSR signing error (").doesNotContain("TTL");
        }
        // A good CSR with that lifetime is refused for it.
        Status ttl = call(good, Duration.ofDays(91));
        assertThat(ttl.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(ttl.getDescription()).contains("is greater than the max allowed TTL");
    }
}
