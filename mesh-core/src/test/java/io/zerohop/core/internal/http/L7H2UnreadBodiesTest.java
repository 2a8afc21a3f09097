package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the L7 HTTP/2 proxy holds, node-wide, of request bodies an application does not read ({@link H2HeldBudget}):
 * K client connections (Node's http2 client, {@code h2-unread-bodies-client.js}) each open streams posting bodies to
 * {@code jwt-echo-server.js}'s {@code /unread}, which never reads them, over the plaintext inbound path. The bytes held
 * are read from the allocator of the proxy's client connections, an unpooled one of their own whose count of direct memory
 * in use is exact (a pooled allocator's counts the chunks it keeps): what their reads and the HTTP/2 codec's buffers hold,
 * the DATA the streams queue and forward being slices of those. Addresses 127.0.224.1-2, ephemeral ports.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7H2UnreadBodiesTest {
    static final String PROXY = "127.0.224.1";
    static final String APP = "127.0.224.2";

    static EventLoopGroup group;
    static Process app;
    static Channel listener;
    static int port;
    /** The client connections' allocator: what they hold in direct memory. */
    static final UnpooledByteBufAllocator ALLOC = new UnpooledByteBufAllocator(true);
    static final List<Process> clients = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        app = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("jwt-echo-server.js"), APP).redirectErrorStream(true));
        String[] ports = ChildProcess.firstLine(app).trim().split(" ");
        group = Transports.newGroup(2, "l7-h2-unread-bodies");
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        InetSocketAddress appAddress = new InetSocketAddress(APP, Integer.parseInt(ports[1]));
        // Its accepted connections read into ALLOC.
        listener = PlaintextL7.listen(http, group, new InetSocketAddress(PROXY, 0), appAddress, AppProtocol.HTTP,
                b -> b.childOption(ChannelOption.ALLOCATOR, ALLOC), client -> { });
        port = ((InetSocketAddress) listener.localAddress()).getPort();
    }

    @AfterAll
    static void stop() throws Exception {
        clients.forEach(Process::destroyForcibly);
        L7JwtTest.stop(app, group, listener);
    }

    static long usedDirect() {
        return ALLOC.metric().usedDirectMemory();
    }

    /**
     * 12 connections of 16 streams, each stream 200,000 bytes of body not ended, with a budget of 2 MiB: what the proxy
     * holds stays within the budget plus what one read of each connection may add before it is counted (a socket read:
     * 64 KiB) and a MiB of slack for the read buffers the DATA slices keep, streams are reset for it, and another
     * connection's 200 KB body still reaches the application and is answered. Without the budget (until 7 December) the
     * proxy held 23.7 MB of direct memory here (2.0 MB per connection: each stream's 64 KiB unread in the connection's
     * window, and up to 64 KiB more read and queued toward the application behind its windows); with it, 0.9 to 2.0 MB,
     * 185 of the 192 streams reset. {@code -Dzerohop.test.l7Connections}, {@code -Dzerohop.test.l7Streams} change the shape for a measurement.
     */
    @Test
    void connectionsPostingToAnApplicationThatDoesNotReadHoldNoMoreThanTheBudget() throws Exception {
        int connections = Integer.getInteger("zerohop.test.l7Connections", 12);
        int streams = Integer.getInteger("zerohop.test.l7Streams", 16);
        long budget = 2L << 20;
        long before = H2HeldBudget.limit();
        H2HeldBudget.limit(budget);
        H2HeldBudget.logAgain();
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            long base = usedDirect();
            long resetsBefore = H2HeldBudget.resets();
            Process p = new ProcessBuilder("node", L7JwtTest.resource("h2-unread-bodies-client.js"), PROXY, Integer.toString(port),
                    Integer.toString(connections), Integer.toString(streams), "200000",
                    // Four times the budget before the writes may be taken for stalled (with or without it, they go past 14 MB).
                    Long.toString(4 * budget)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            clients.add(p);
            BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            Writer commands = new java.io.OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8);
            String line;
            while ((line = lines.readLine()) != null && !line.startsWith("stalled ")) {
                assertThat(line).doesNotContain("error");
            }
            assertThat(line).as("the client ended before its writes stalled").isNotNull();
            // Resets for the budget run as tasks of the connections' loops, after the read that crossed it: on a loaded
            // machine (load 15) a snapshot taken at once saw 13.7 MB with those tasks still queued. What is bounded is
            // what the proxy keeps, so it is read once they had their time (a few seconds); without a budget nothing is
            // ever freed and the bound fails as it did (23.7 MB).
            long bound = budget + connections * 64 * 1024L + (1L << 20);
            long held = usedDirect() - base;
            for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); held > bound && System.nanoTime() < end; ) {
                Thread.sleep(50);
                held = usedDirect() - base;
            }
            System.out.printf("L7H2UnreadBodiesTest: %d connections x %d streams: %s; direct memory in use +%d bytes (%d per connection), "
                    + "counted held %d, %d streams reset%n", connections, streams, line, held, held / connections, H2HeldBudget.held(),
                    H2HeldBudget.resets() - resetsBefore);
            commands.write("free\n");
            commands.flush();
            while ((line = lines.readLine()) != null && !line.startsWith("{")) {
                // progress lines
            }
            assertThat(line).as("the client ended before the free request's answer").isNotNull();
            JsonNode free = L7JwtHoldTest.JSON.readTree(line);
            assertThat(free.path("status").asInt()).as(line).isEqualTo(200);
            assertThat(held).as("direct memory the proxy holds for bodies not read").isLessThanOrEqualTo(bound);
            assertThat(H2HeldBudget.resets()).as("streams reset for the budget").isGreaterThan(resetsBefore);
            // The operator's line says what the budget is made of and what to change (until 7 December (h367) it ended
            // at "over its budget of N (overload, OM)").
            assertThat(err.awaitLine("L7 HTTP/2: ", " request streams of ")).contains(" over its budget of " + budget + " ")
                    .contains("raise it, ZEROHOP_JAVA_OPTS_EXTRA");
            // A stream reset for the budget held bytes of its body (it is picked for them): its access line counts what the
            // client sent, read by the stream or not (until 7 December, bytes_received=0 for one that had read nothing).
            err.awaitLine("-http src=", " response_flags=OM ");
            List<String> shed = err.text().lines().filter(l -> l.contains("-http src=") && l.contains(" response_flags=OM ")).toList();
            assertThat(shed).as("access lines of streams reset for the budget").isNotEmpty()
                    .allSatisfy(l -> assertThat(l).as("bytes_received of a stream holding its body").doesNotContain(" bytes_received=0 "));
            commands.write("end\n");
            commands.flush();
            p.waitFor(10, TimeUnit.SECONDS);
        } finally {
            H2HeldBudget.limit(before);
        }
    }
}
