package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * How {@link TlsRecords} cuts an HBONE connection's writes into TLS records (issue 14), on real
 * mutual TLS 1.3 between two engines of the mesh's own contexts (BoringSSL when it loads), driven in
 * memory: the TLS records the client puts on the wire are parsed from its ciphertext, and the server
 * decrypts them. The pipeline is {@link HbonePipeline#connection}'s: the SslHandler, then this handler.
 */
class TlsRecordsTest {
    private static InMemoryCa ca;
    private static MeshTls tls;
    private static SslContext clientCtx;
    private static SslContext serverCtx;

    private EmbeddedChannel client;
    private EmbeddedChannel server;
    private final List<ByteBuf> plaintext = new ArrayList<>();

    @BeforeAll
    static void contexts() throws Exception {
        ca = InMemoryCa.create("cluster.local");
        tls = MeshTls.builder(ca).build();
        SpiffeId serverId = SpiffeIds.istio("cluster.local", "prod", "server");
        SpiffeId clientId = SpiffeIds.istio("cluster.local", "prod", "client");
        serverCtx = tls.server(serverId).get(10, TimeUnit.SECONDS);
        clientCtx = tls.client(clientId, Set.of(serverId)).get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void closeCa() {
        tls.close();
        ca.close();
    }

    @BeforeEach
    void handshake() {
        SslHandler clientTls = clientCtx.newHandler(ByteBufAllocator.DEFAULT);
        client = new EmbeddedChannel();
        HbonePipeline.tls(client.pipeline(), clientTls);
        server = new EmbeddedChannel(serverCtx.newHandler(ByteBufAllocator.DEFAULT), new io.netty.channel.ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                plaintext.add((ByteBuf) msg);
            }
        });
        for (int i = 0; i < 10 && !clientTls.handshakeFuture().isDone(); i++) {
            pump(client, server).forEach(ByteBuf::release);
            pump(server, client).forEach(ByteBuf::release);
        }
        assertThat(clientTls.handshakeFuture().isSuccess()).as("mutual TLS handshake").isTrue();
        pump(client, server).forEach(ByteBuf::release);
        pump(server, client).forEach(ByteBuf::release);
        plaintext.forEach(ReferenceCountUtil::release);
        plaintext.clear();
    }

    @AfterEach
    void tearDown() {
        plaintext.forEach(ReferenceCountUtil::release);
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    private static List<ByteBuf> pump(EmbeddedChannel from, EmbeddedChannel to) {
        List<ByteBuf> out = new ArrayList<>();
        for (Object m; (m = from.readOutbound()) != null; ) {
            out.add((ByteBuf) m);
        }
        for (ByteBuf b : out) {
            to.writeInbound(b.retainedDuplicate()); // the receiver moves its own indices, not ours
        }
        return out;
    }

    /** Lengths of the TLS records (RFC 8446 section 5.1: 5-byte header, the length in bytes 3-4) in {@code wire}. */
    private static List<Integer> records(List<ByteBuf> wire) {
        CompositeByteBuf all = ByteBufAllocator.DEFAULT.compositeBuffer(Integer.MAX_VALUE);
        wire.forEach(all::addComponent);
        all.writerIndex(wire.stream().mapToInt(ByteBuf::readableBytes).sum());
        List<Integer> lengths = new ArrayList<>();
        for (int i = 0; i < all.writerIndex(); ) {
            assertThat(all.getUnsignedByte(i)).as("application data record").isEqualTo((short) 23);
            int len = all.getUnsignedShort(i + 3);
            lengths.add(len);
            i += 5 + len;
        }
        all.release(); // releases the wire buffers too
        return lengths;
    }

    private byte[] received() {
        int n = plaintext.stream().mapToInt(ByteBuf::readableBytes).sum();
        byte[] got = new byte[n];
        int at = 0;
        for (ByteBuf b : plaintext) {
            int len = b.readableBytes();
            b.getBytes(b.readerIndex(), got, at, len);
            at += len;
        }
        return got;
    }

    private static ByteBuf bytes(int n, int seed) {
        ByteBuf b = ByteBufAllocator.DEFAULT.directBuffer(n);
        for (int i = 0; i < n; i++) {
            b.writeByte(seed + i * 31);
        }
        return b;
    }

    /** TLS 1.3 adds 17 bytes to each record's plaintext: the inner content type and a 16-byte AEAD tag. */
    private static final int OVERHEAD = 17;

    @Test
    @DisplayName("small frames written in one pass share one TLS record (CONNECTs batched per pass stay batched)")
    void smallWritesShareARecord() {
        List<ChannelFuture> writes = new ArrayList<>();
        byte[] expected = new byte[40 * 100];
        for (int i = 0; i < 40; i++) {
            ByteBuf frame = bytes(100, i);
            frame.getBytes(0, expected, i * 100, 100);
            writes.add(client.write(frame));
        }
        assertThat(writes).noneMatch(ChannelFuture::isDone);
        client.flush();
        List<ByteBuf> wire = pump(client, server);

        assertThat(received()).isEqualTo(expected);
        assertThat(writes).allMatch(ChannelFuture::isSuccess);
        assertThat(records(wire)).containsExactly(4_000 + OVERHEAD);
    }

    @Test
    @DisplayName("a 1 MiB DATA payload behind its 9-byte frame header: no record mixes the two (no copy), 64 KiB per write to the socket")
    void largePayloadIsNotCopiedIntoTheHeadersRecord() {
        ByteBuf header = bytes(9, 7);
        ByteBuf payload = bytes(1024 * 1024, 3);
        byte[] expected = new byte[9 + 1024 * 1024];
        header.getBytes(0, expected, 0, 9);
        payload.getBytes(0, expected, 9, 1024 * 1024);
        ChannelPromise headerWritten = client.newPromise();
        client.write(header, headerWritten);
        ChannelFuture payloadWritten = client.writeAndFlush(payload);
        List<ByteBuf> wire = pump(client, server);

        assertThat(received()).isEqualTo(expected);
        assertThat(headerWritten.isSuccess()).isTrue();
        assertThat(payloadWritten.isSuccess()).isTrue();
        // Netty's default would make the first record the header plus 16,375 payload bytes copied behind it.
        List<Integer> records = records(wire);
        assertThat(records.get(0)).as("the frame header's record").isEqualTo(9 + OVERHEAD);
        assertThat(records.subList(1, records.size())).hasSize(64).allMatch(len -> len == 16 * 1024 + OVERHEAD);
        // The payload leaves in 16 writes of 4 records each, not 64 of one.
        assertThat(wire).hasSize(1 + 16);
    }

    @Test
    @DisplayName("a small write waiting for its flush is released, and its promise failed, when the connection goes away")
    void pendingSmallWriteIsReleasedOnClose() {
        ByteBuf frame = bytes(100, 1);
        ChannelFuture f = client.write(frame);
        client.pipeline().remove(TlsRecords.class);
        assertThat(frame.refCnt()).isZero();
        assertThat(f.isDone()).isTrue();
        assertThat(f.isSuccess()).isFalse();
    }
}
