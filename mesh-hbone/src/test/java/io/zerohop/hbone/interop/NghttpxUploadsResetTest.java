package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.identity.SpiffeIds;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real HTTP/2 client's DATA in flight on tunnels the server resets does not end its connection: nghttpx (forward
 * proxy, HBONE client over mutual TLS, all tunnels on one backend connection) uploads on 100 tunnels at a time, 200 in
 * all, and the upstream resets each after 200 KB (SO_LINGER 0), so the server resets each stream (CONNECT_ERROR) while
 * nghttpx still has DATA on its way. Those frames get RST_STREAM STREAM_CLOSED once the reset-stream hold (50 streams,
 * one second) let go, and are not counted among the 1,024 resets for the peer's errors
 * ({@code LateFramesNotCountedTest}). Until helper 309 (6 December) they were: the connection counted 1,024 within
 * some 500 tunnels and went away with GOAWAY ENHANCE_YOUR_CALM "too_many_internal_resets", every tunnel on it with it,
 * and again on the next connection. The server's connections here go away past {@value #LIMIT} such resets
 * ({@code Inspect.localErrorResetLimit}; the production limit, 1,024, is LocalErrorResetLimitTest's), so 200 tunnels
 * show what 1,000 did at 1,024 (until helper 315: 10 rounds, 15 to 20 s). Binds 127.0.165.1:50870-50872.
 */
@Timeout(120)
class NghttpxUploadsResetTest {
    static final String HOST = "127.0.165.1";
    /** The server's limit of resets for the peer's errors per connection here. */
    static final int LIMIT = 16;

    @TempDir
    Path dir;

    @Test
    void uploadsTheUpstreamResetsKeepNghttpxsConnection() throws Exception {
        ExecutorService pool = Executors.newCachedThreadPool();
        Pki pki = new Pki(dir);
        Pki.PemFiles client = pki.write("nghttpx-client", SpiffeIds.istio(Pki.TRUST_DOMAIN, "edge", "nghttpx"));
        AtomicInteger accepted = new AtomicInteger();
        try (ServerSocket up = new ServerSocket()) {
            up.bind(new InetSocketAddress(HOST, 50872), 1024);
            pool.execute(() -> {
                while (true) {
                    Socket s;
                    try {
                        s = up.accept();
                        accepted.incrementAndGet();
                    } catch (Exception e) {
                        return;
                    }
                    pool.execute(() -> {
                        try (s) {
                            InputStream in = s.getInputStream();
                            byte[] b = new byte[65536];
                            long n = 0;
                            while (n < 200_000) {
                                int r = in.read(b);
                                if (r < 0) {
                                    break;
                                }
                                n += r;
                            }
                            s.setSoLinger(true, 0); // the close is a TCP reset
                        } catch (Exception ignored) {
                            // the tunnel went first
                        }
                    });
                }
            });
            InetSocketAddress upstream = new InetSocketAddress(HOST, 50872);
            HboneServer server = HboneServer.builder().tls(pki.tls).identity(SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "server"))
                    .bind(new InetSocketAddress(HOST, 50870)).destinations((dst, id, local) -> Destination.proxy(upstream))
                    .authorizer(Authorizer.allowAll()).threads(2).build().start().get(10, TimeUnit.SECONDS);
            Inspect.localErrorResetLimit(server, LIMIT);
            PeerProcess nghttpx = PeerProcess.start("nghttpx", List.of(Peers.nghttpx().toString(), "--conf=/dev/null", "--workers=1",
                    "--errorlog-file=/dev/stderr", "--accesslog-file=/dev/null", "-s",
                    "--frontend=" + HOST + ",50871;no-tls", "--backend=" + HOST + ",50870;;proto=h2;tls",
                    "--client-private-key-file=" + client.key(), "--client-cert-file=" + client.cert(), "--cacert=" + pki.caFile,
                    "--insecure"), dir);
            try {
                assertThat(nghttpx.awaitStderrOrEnd(l -> l.contains("Created worker thread"), Duration.ofSeconds(15)))
                        .as("nghttpx started\n%s", nghttpx.output()).isNotNull();
                Channel first = null;
                for (int round = 0; round < 2; round++) {
                    CountDownLatch done = new CountDownLatch(100);
                    for (int i = 0; i < 100; i++) {
                        pool.execute(() -> {
                            try (Socket s = new Socket()) {
                                s.connect(new InetSocketAddress(HOST, 50871), 5000);
                                s.setSoTimeout(20_000);
                                OutputStream out = s.getOutputStream();
                                String a = HOST + ":50872";
                                out.write(("CONNECT " + a + " HTTP/1.1\r\nHost: " + a + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                                byte[] chunk = new byte[16384];
                                for (int k = 0; k < 2000; k++) {
                                    out.write(chunk);
                                }
                            } catch (Exception ignored) {
                                // the upstream's reset, passed on
                            } finally {
                                done.countDown();
                            }
                        });
                    }
                    assertThat(done.await(60, TimeUnit.SECONDS)).as("round %d's uploads ended", round).isTrue();
                    List<Channel> connections = Inspect.connectionChannels(server);
                    if (first == null) {
                        assertThat(connections).as("nghttpx's backend connection").hasSize(1);
                        first = connections.get(0);
                    }
                    assertThat(connections).as("after round %d: the first connection, alone", round).containsExactly(first);
                }
                assertThat(accepted.get()).as("upstream connections").isEqualTo(200);
            } finally {
                nghttpx.close();
                server.close();
            }
        } finally {
            pool.shutdownNow();
            pki.close();
        }
    }
}
