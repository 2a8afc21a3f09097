package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The RST_STREAM code an HTTP/2 application reads when the client of a response it started goes away: Envoy's router
 * resets the upstream request locally, which its HTTP/2 codec writes as INTERNAL_ERROR since Envoy 1.37
 * ({@link H2Proxy#UPSTREAM_LOCAL_RESET}). Until 7 December the application read CANCEL (or the client's own code when
 * the client reset its stream). An HTTP/1 client on an {@code http2} port ({@link H2Upstream}) and h2c clients on an
 * {@code http} port ({@link H2Proxy}), wired as the plaintext inbound listener wires them; the application is Node's
 * http2 server ({@code h2-rst-code-server.js}), which reports each stream's {@code rstCode}. Addresses 127.0.221.1 (the
 * listener) and .2 (Node).
 */
@Timeout(120)
class L7AppStreamResetCodeTest {
    private static final int INTERNAL_ERROR = 2;

    private final EventLoopGroup group = Transports.newGroup(1, "l7-rst-code");
    private final HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, new SimpleMeterRegistry(), null, 1000);
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private Process node;
    private BufferedReader nodeOut;
    private InetSocketAddress app;

    @BeforeEach
    void start() throws Exception {
        InetAddress nodeIp = InetAddress.getByName("127.0.221.2");
        node = ChildProcess.start(new ProcessBuilder("node", Path.of(getClass().getResource("/http/h2-rst-code-server.js").toURI()).toString(),
                nodeIp.getHostAddress()));
        nodeOut = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8));
        app = new InetSocketAddress(nodeIp, Integer.parseInt(ChildProcess.readLine(node, nodeOut).trim()));
    }

    @AfterEach
    void stop() throws Exception {
        PlaintextL7.stop(toClose, group, node);
    }

    /** A plaintext listener for a port of {@code protocol} whose application is Node's server. */
    private InetSocketAddress listener(AppProtocol protocol) throws Exception {
        Channel listener = PlaintextL7.listen(http, group, new InetSocketAddress(InetAddress.getByName("127.0.221.1"), 0), app, protocol,
                b -> { }, client -> { }, PlaintextL7.dial(app, b -> { }, up -> { }));
        toClose.add(() -> listener.close().sync());
        return (InetSocketAddress) listener.localAddress();
    }

    /** The RST_STREAM code Node's server reports for the stream of {@code path}. */
    private int rstCodeOf(String path) throws InterruptedException {
        while (true) {
            String line = ChildProcess.readLine(node, nodeOut);
            if (line.startsWith(path + " rst ")) {
                return Integer.parseInt(line.substring(path.length() + 5).trim());
            }
        }
    }

    /** An h2c client (Node's) that requests {@code path} and, at the response's first bytes, does {@code then}. */
    private static void h2Client(InetSocketAddress via, String path, String then) throws Exception {
        String script = "const h=require('http2');const s=h.connect(process.argv[1]);s.on('error',()=>{});"
                + "const r=s.request({':path':process.argv[2]});r.on('error',()=>{});"
                + "r.once('data',()=>{if(process.argv[3]==='reset'){r.close(h.constants.NGHTTP2_CANCEL,()=>s.close());}"
                + "else{s.destroy();}});";
        ChildProcess.run("node", "-e", script, "http://" + via.getAddress().getHostAddress() + ":" + via.getPort(), path, then);
    }

    /** An HTTP/1 client that resets its connection mid-response, on an {@code http2} port ({@link H2Upstream}). */
    @Test
    void anHttp1ClientGoneMidResponseResetsTheApplicationsStreamWithInternalError() throws Exception {
        InetSocketAddress via = listener(AppProtocol.HTTP2);
        try (Socket c = new Socket(via.getAddress(), via.getPort())) {
            c.setSoTimeout(30_000);
            c.getOutputStream().write("GET /h1-gone HTTP/1.1\r\nHost: backend\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = c.getInputStream();
            String seen = "";
            while (!seen.contains("started")) {
                int b = in.read();
                assertThat(b).as("the response started").isNotNegative();
                seen += (char) b;
            }
            assertThat(seen).startsWith("HTTP/1.1 200 ");
            // Gone: a reset (a FIN would be a half-close, after which the response may still be read).
            c.setSoLinger(true, 0);
        }
        assertThat(rstCodeOf("/h1-gone")).isEqualTo(INTERNAL_ERROR);
    }

    /**
     * An h2c client whose connection ends mid-response: the application's connection, pooled per client connection, is
     * closed after its open streams are reset ({@link H2AppConnection#closeResettingStreams}).
     */
    @Test
    void anHttp2ClientWhoseConnectionEndsMidResponseResetsTheApplicationsStreamWithInternalError() throws Exception {
        h2Client(listener(AppProtocol.HTTP), "/h2-gone", "destroy");
        assertThat(rstCodeOf("/h2-gone")).isEqualTo(INTERNAL_ERROR);
    }

    /** The client's own code (CANCEL here) is not passed on: Envoy's router resets the upstream request with its own. */
    @Test
    void anHttp2ClientsCancelResetsTheApplicationsStreamWithInternalError() throws Exception {
        h2Client(listener(AppProtocol.HTTP), "/h2-cancel", "reset");
        assertThat(rstCodeOf("/h2-cancel")).isEqualTo(INTERNAL_ERROR);
    }
}
