package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.internal.Inspect;
import io.zerohop.testing.netty.HalfClosingPeer;
import java.io.InputStream;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.SocketFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Tasks a {@code TunnelSocket} hands to its connection's event loop from the application thread.
 * Each one wakes a sleeping loop (an eventfd write, an epoll return: tens of µs on a busy 2-vCPU
 * VM), so the ones with nothing to do on the loop are gone (issue 14, benchmarks/results/open-*.md).
 * The client runs on a {@link CountingLoopGroup}; own mechanics, no upstream to cite.
 */
class TunnelSocketHandOffTest {
    static final int ECHO = 8080;
    static CountedClient rig;
    static SocketFactory sockets;

    @BeforeAll
    static void start() throws Exception {
        rig = new CountedClient(HalfClosingPeer.echo(HboneStream::shutdownOutput));
        sockets = rig.client.socketFactory(addr -> new Route(rig.server.localAddress(), rig.mesh.serverId));
    }

    @AfterAll
    static void stop() throws Exception {
        rig.close();
    }

    /** Closed after each test, so that a failed one leaves no tunnel open for the next. */
    private final java.util.List<Socket> tunnelsLeft = new java.util.ArrayList<>();

    @org.junit.jupiter.api.AfterEach
    void closeLeft() throws Exception {
        for (Socket s : tunnelsLeft) {
            s.close();
        }
    }

    @BeforeEach
    void warm() throws Exception {
        // The first tunnel also makes the connection (handshake, SETTINGS): not what is counted.
        try (Socket s = sockets.createSocket("127.0.0.1", ECHO)) {
            echoAndEnd(s);
        }
        awaitNoTunnels();
    }

    private static void echoAndEnd(Socket s) throws Exception {
        s.setSoTimeout(10_000);
        s.getOutputStream().write('x');
        InputStream in = s.getInputStream();
        assertThat(in.read()).isEqualTo('x');
        s.shutdownOutput();
        assertThat(in.read()).as("the peer's END_STREAM").isEqualTo(-1);
    }

    private static void awaitNoTunnels() throws Exception {
        // The pool counts a tunnel until its stream channel has closed, on the loop.
        CompletableFuture<Integer> left = new CompletableFuture<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        do {
            rig.loop.next().submit(() -> left.obtrudeValue(Inspect.tunnelCount(rig.client, rig.mesh.expectServer(), rig.server.localAddress())))
                    .await(10, TimeUnit.SECONDS);
            if (left.get() == 0) {
                return;
            }
        } while (System.nanoTime() < deadline);
        throw new AssertionError("tunnels still open after 20 s: " + left.get());
    }

    @Test
    @DisplayName("connect(addr) through the socket factory hands the loop one task, the stream's open: the socket is attached on the loop as the 200 is handled")
    void connectHandsTheLoopOnlyTheOpen() throws Exception {
        Socket s = sockets.createSocket();
        rig.loop.resetCounts();
        try {
            s.connect(Mesh.loopback(ECHO), 10_000);
        } finally {
            tunnelsLeft.add(s);
        }
        // One, the stream's open; two only when the loop completed the whole open before this thread
        // registered its callback, so that this thread attaches (with one task).
        assertThat(rig.loop.from(Thread.currentThread())).as("tasks from the caller's thread: %s", rig.loop.outsiders()).isBetween(1, 2);
        assertThat(s.isConnected()).isTrue();
        echoAndEnd(s);
        s.close();
        awaitNoTunnels();
    }

    @Test
    @DisplayName("connect() from an application thread hands the loop one task even when the loop finishes the open before connect() returns")
    void anOpenIsOneTaskWhateverTheInterleaving() throws Exception {
        // Netty's Http2StreamChannelBootstrap.open() from outside the loop hands it the open; a
        // listener added to its already completed future was a second task (and wake-up).
        rig.loop.resetCounts();
        rig.loop.runOutsideTasksBeforeReturning(true);
        CompletableFuture<HboneStream> open;
        try {
            open = rig.client.connect(Mesh.loopback(ECHO), rig.mesh.expectServer(), rig.server.localAddress());
        } finally {
            rig.loop.runOutsideTasksBeforeReturning(false);
        }
        HboneStream s = open.get(10, TimeUnit.SECONDS);
        try {
            assertThat(rig.loop.from(Thread.currentThread())).as("tasks from the caller's thread: %s", rig.loop.outsiders()).isEqualTo(1);
        } finally {
            s.close();
        }
        awaitNoTunnels();
    }

    @Test
    @DisplayName("close() after both sides ended hands the loop nothing, and the tunnel still ends")
    void closeAfterBothEndsIsNotATask() throws Exception {
        Socket s = sockets.createSocket("127.0.0.1", ECHO);
        tunnelsLeft.add(s);
        echoAndEnd(s);
        rig.loop.resetCounts();
        s.close();
        assertThat(rig.loop.from(Thread.currentThread())).as("tasks from the caller's thread: %s", rig.loop.outsiders()).isZero();
        assertThat(s.isClosed()).isTrue();
        awaitNoTunnels();
    }

    @Test
    @DisplayName("close() of an open tunnel still sends END_STREAM (one task), and the tunnel ends")
    void closeOfAnOpenTunnelIsOneTask() throws Exception {
        Socket s = sockets.createSocket("127.0.0.1", ECHO);
        tunnelsLeft.add(s);
        s.setSoTimeout(10_000);
        s.getOutputStream().write('x');
        assertThat(s.getInputStream().read()).isEqualTo('x');
        rig.loop.resetCounts();
        s.close();
        assertThat(rig.loop.from(Thread.currentThread())).as("tasks from the caller's thread: %s", rig.loop.outsiders()).isEqualTo(1);
        // The server answers our END_STREAM with its own: the tunnel closes without a reset or the linger timer.
        awaitNoTunnels();
    }

    @Test
    @DisplayName("close() on the event loop runs there and then: no task")
    void closeOnTheLoopIsInline() throws Exception {
        Socket s = sockets.createSocket("127.0.0.1", ECHO);
        tunnelsLeft.add(s);
        s.setSoTimeout(10_000);
        s.getOutputStream().write('x');
        assertThat(s.getInputStream().read()).isEqualTo('x');
        CompletableFuture<Integer> tasks = new CompletableFuture<>();
        rig.loop.next().execute(() -> {
            int before = rig.loop.all();
            try {
                s.close();
            } catch (Exception e) {
                tasks.completeExceptionally(e);
            }
            tasks.complete(rig.loop.all() - before);
        });
        // The close writes END_STREAM and asks for one batched flush (Tunnels.flushSoon): that is the only task.
        assertThat(tasks.get(10, TimeUnit.SECONDS)).isEqualTo(1);
        awaitNoTunnels();
    }

    /**
     * Each write() is one task for the loop, and while nothing else is in flight it is the same task
     * object every time (issue 14: a new lambda per write was the writer's one allocation besides its
     * buffer). The loop has run a write's task, its count included, before it reads the echo of it:
     * so every write of this sequence finds nothing in flight.
     */
    @Test
    void sequentialWritesReuseOneTask() throws Exception {
        int writes = 50;
        try (Socket s = sockets.createSocket("127.0.0.1", ECHO)) {
            tunnelsLeft.add(s);
            s.setSoTimeout(10_000);
            java.io.OutputStream out = s.getOutputStream();
            java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
            byte[] request = new byte[1024];
            byte[] response = new byte[1024];
            rig.loop.resetCounts();
            for (int i = 0; i < writes; i++) {
                out.write(request);
                in.readFully(response);
            }
            String me = Thread.currentThread().getName() + ": ";
            java.util.List<String> writeTasks = rig.loop.outsiders().stream()
                    .filter(t -> t.startsWith(me) && t.contains("SocketState")).toList();
            assertThat(writeTasks).as("one task per write").hasSize(writes);
            assertThat(new java.util.HashSet<>(writeTasks)).as("distinct write task objects").hasSize(1);
        }
    }
}
