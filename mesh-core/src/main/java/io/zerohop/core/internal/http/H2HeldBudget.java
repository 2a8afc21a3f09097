package io.zerohop.core.internal.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2Connection;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node-wide budget of request-body bytes the L7 HTTP/2 proxy ({@link H2Proxy}) holds for applications that have not
 * read them: DATA its client connections received that their stream channels have not read (the flow controller's
 * unconsumed bytes, at most {@link H2Proxy#CONNECTION_WINDOW} per connection), plus DATA read and written toward the
 * application that waits behind the application's windows (up to the stream channel's write watermark, 64 KiB, per
 * stream, and so without a bound per connection: its streams are not limited, {@link H2Proxy#MAX_CONCURRENT_STREAMS}).
 *
 * <p>The HTTP/1 path counts here too ({@link Http1Filter}, {@link Connection#Connection(java.util.function.LongSupplier)}):
 * what a client connection wrote toward its application that the application's connection has not taken (its write
 * watermark, 64 KiB, and one read past it), one stream per connection; 10,000 such connections held 640 MB with nothing
 * bounding their sum (L7H1UnreadBodiesTest measures 64: 6.2 MB before, within twice a 1 MiB budget after); toward an
 * HTTP/2 application ({@link H2Upstream#queuedBytes}) what its request's stream has not written yet. And, in the same
 * connection's share, the response bytes written toward a client that it has not taken ({@link Http1Filter#toClient}: 64
 * clients not reading held 4.3 MB against a 1 MiB budget before, 0.98 MB after, L7Http1BreakTest). Both directions are
 * counted per write until it completes, and the completion counts the connection again, so what an end took leaves the
 * count when it takes it (L7Http1BreakTest whatTheApplicationTookIsNoLongerCounted). Shedding one
 * frees a stream's worth, so the connections holding the most are asked, by memory class as Envoy ranks its streams
 * (stalled first within a class), until what they hold covers the excess ({@link #overBudget}); the request is logged {@code OM} and both connections are reset (Http1Filter.shedForBudget).
 *
 * <p>Why a budget here: the HBONE server's inbound budgets (mesh-hbone {@code Budgets}) count what a tunnel's
 * application has not read, from its connection's flow controller; the L7 codec on a tunnel is that application, and
 * it reads the tunnel as it comes, so what its streams hold is no longer counted there, and a plaintext connection
 * (PERMISSIVE) never was. Measured (L7H2UnreadBodiesTest, before this budget): 12 connections of 16 streams posting to an
 * application that does not read held 23.7 MB of direct memory (2.0 MB each); two of 64 streams 11.9 MB (5.9 MB each),
 * where the node proxy runs with {@code -XX:MaxDirectMemorySize=64m}: one authorized client could exhaust direct memory
 * and with it every tunnel of the node.
 *
 * <p>The bound: {@link #limit()}, an eighth of Netty's direct-memory limit (at least 2 MiB; the node proxy's 64 MiB:
 * 8 MiB), the share left beside HBONE's in a mesh (the server's inbound ¼ and its clients' ¼, {@code Outbound.INBOUND_SHARE};
 * outbound ¼; flushing ⅛). Counted after each read of a client
 * connection (so what one connection adds past it is about one read). Over it, the connection holding the most resets its
 * streams holding the most until the node is under half the budget, as the HBONE server resets its largest tunnels over
 * its inbound budget (streams whose application took nothing for {@link #STALLED_NANOS} first, then the heaviest):
 * RST_STREAM NO_ERROR to the client, the application's stream reset (INTERNAL_ERROR, H2Proxy.UPSTREAM_LOCAL_RESET, as
 * when a client goes away: H2Proxy.Downstream.channelInactive), the request logged with
 * Envoy's flag {@code OM} and details {@code overload}. Resetting, not stopping reads: bytes an application never reads
 * are freed by nothing else, so a budget that only stopped reading would stop every connection of the node, its
 * unrelated ones too, for as long as that application does not read (for ever, for a hostile endpoint); a reset costs
 * only the streams holding the most, which are those not read.
 *
 * <p>Envoy, for the same case: {@code per_connection_buffer_limit_bytes} (1 MiB by default; istiod sets 32 KiB only on
 * gateways, istio/istio {@code pilot/pkg/networking/core/connection_settings.go}) bounds what it buffers per stream with
 * watermarks that stop reading, and its overload manager's {@code envoy.overload_actions.reset_high_memory_stream}
 * resets the streams whose buffer accounts are largest under heap pressure (source/common/buffer/watermark_buffer.cc
 * {@code WatermarkBufferFactory::resetAccountsGivenPressure}; the downstream reset is {@code StreamResetReason::OverloadManager},
 * RST_STREAM NO_ERROR by its HTTP/2 codec's {@code reasonToReset}, logged {@code OM} with details {@code overload} by
 * conn_manager_impl.cc {@code onResetStream}). Istio does not configure that action: its bootstrap's overload manager has
 * only the {@code global_downstream_max_connections} monitor (tools/packaging/common/envoy_bootstrap.json), so a
 * sidecar or waypoint has no node-wide bound and relies on its heap being large. zerohop goes beyond that default because
 * its direct memory is capped where Envoy's heap is not: the budget is always on.
 */
final class H2HeldBudget {
    private static final Logger log = LoggerFactory.getLogger(H2HeldBudget.class);

    /**
     * A stream whose application took none of its body for this long is shed before those still read: the HBONE server's
     * default {@code HboneServer.Builder#inboundStallTimeout} (10 s), after which its soft budget stage resets a tunnel.
     */
    static final long STALLED_NANOS = 10_000_000_000L;

    private static volatile long limit = Math.max(2L << 20, io.netty.util.internal.PlatformDependent.maxDirectMemory() / 8);
    private static final AtomicLong held = new AtomicLong();
    private static final AtomicLong resets = new AtomicLong();
    /**
     * The connections holding something, by memory class: class {@code k} holds those whose count is in
     * [2^k, 2^(k+1)), as Envoy's WatermarkBufferFactory files its buffer accounts in power-of-two classes
     * ({@code BufferMemoryAccountImpl::balanceToClassIndex}). A connection moves when its count crosses a power of two.
     */
    @SuppressWarnings("unchecked")
    private static final Set<Connection>[] classes = new Set[64];

    static {
        for (int k = 0; k < classes.length; k++) {
            classes[k] = ConcurrentHashMap.newKeySet();
        }
    }

    /** What the connections asked to shed held when asked, until they shed: not asked for again meanwhile. */
    private static final AtomicLong asked = new AtomicLong();
    /** {@link #STALLED_NANOS}, shorter in tests. */
    private static volatile long stalledNanos = STALLED_NANOS;
    private static final AtomicLong lastLog = new AtomicLong(System.nanoTime() - 20_000_000_000L);

    private H2HeldBudget() {}

    /** The node-wide budget in bytes. */
    static long limit() {
        return limit;
    }

    /** Sets the budget (tests). */
    static void limit(long bytes) {
        limit = bytes;
    }

    /** What the L7 proxy's client connections hold now, as last counted. */
    static long held() {
        return held.get();
    }

    /**
     * What the connections asked to shed held when asked, until their sheds run (tests: back to 0 once they ran, or the
     * budget would stop asking others, {@link #overBudget}).
     */
    static long asked() {
        return asked.get();
    }

    /**
     * The connections filed in a memory class, that is counted as holding something (tests: one closed must leave its
     * class, or it would be asked to shed for ever and its count never come back).
     */
    static int filed() {
        int n = 0;
        for (Set<Connection> c : classes) {
            n += c.size();
        }
        return n;
    }

    /** The filed connections the budget takes as stalled now ({@link #overBudget}'s first pass; tests). */
    static int stalled() {
        long now = System.nanoTime();
        int n = 0;
        for (Set<Connection> c : classes) {
            for (Connection k : c) {
                if (now - k.progressAt >= stalledNanos) {
                    n++;
                }
            }
        }
        return n;
    }

    /** Lets the next reset log its line at once (tests: another test's line may be under 10 s old). */
    static void logAgain() {
        lastLog.set(System.nanoTime() - 20_000_000_000L);
    }

    /** Sets how long without progress makes a stream or connection stalled (tests); {@link #STALLED_NANOS} by default. */
    static void stalledAfter(long nanos) {
        stalledNanos = nanos;
    }

    /** The streams reset for the budget since the start. */
    static long resets() {
        return resets.get();
    }

    /** One stream of a client connection, which the budget may reset. Its connection's event loop only. */
    interface Stream {
        /** The bytes this stream holds for its application (received unread, and written toward it unwritten). */
        long heldBytes();

        /** {@link System#nanoTime} when the application last took some of this stream's body (or the stream began). */
        long progressAt();

        /** Reset for the budget: the client's stream and the application's. */
        void shed();
    }

    /** A client connection's share, the handler after its HTTP/2 codec. Its event loop only, but {@link #counted}. */
    static final class Connection extends ChannelInboundHandlerAdapter {
        private final Http2Connection http2;
        /** What the connection holds unread now, beside what {@link #queued} counts: recounted after each read. */
        private final java.util.function.LongSupplier unreadNow;
        /** The proxy it belongs to, for the INFO line: "HTTP/2", "HTTP/1". */
        private final String protocol;
        private final Set<Stream> streams = new HashSet<>();
        private final AtomicBoolean shedAsked = new AtomicBoolean();
        private io.netty.channel.Channel channel;
        /** Unconsumed DATA as last counted. */
        private long unread;
        /** DATA written toward the application whose write has not completed. */
        private long queued;
        private volatile long counted;
        /** The memory class {@link #counted} is filed in ({@link H2HeldBudget#classes}); -1 while it holds nothing. */
        private int memoryClass = -1;
        /** {@link System#nanoTime} when the connection's count last went down (an end took some), or it began. */
        private volatile long progressAt = System.nanoTime();
        private boolean closed;

        Connection(Http2Connection http2) {
            this.http2 = http2;
            this.unreadNow = () -> http2.local().flowController().unconsumedBytes(http2.connectionStream());
            this.protocol = "HTTP/2";
        }

        /**
         * An HTTP/1 client connection's share ({@link Http1Filter}): {@code queuedNow}, what it wrote toward the application
         * that the application's connection has not taken and toward the client that the client has not, is recounted
         * after each read of either connection ({@link #readComplete}) and when a write toward either completes
         * ({@link #recountNow}). Not a handler in the pipeline: the filter calls {@link #attach}, {@link #readComplete}
         * and {@link #detach}.
         */
        Connection(java.util.function.LongSupplier queuedNow) {
            this.http2 = null;
            this.unreadNow = queuedNow;
            this.protocol = "HTTP/1";
        }

        void attach(io.netty.channel.Channel ch) {
            channel = ch;
        }

        /**
         * After a read of the client's connection (or, HTTP/1, of its application's): counted, and over the budget the
         * connections holding the most shed.
         */
        void readComplete() {
            recount();
            if (held.get() > limit) {
                overBudget();
            }
        }

        /** Counted again (a write toward the application or the client completed): no shedding. */
        void recountNow() {
            recount();
        }

        /** The connection is gone: its count goes back. */
        void detach() {
            if (!closed) {
                closed = true;
                held.addAndGet(-counted);
                counted = 0;
                file();
            }
        }

        Http2Connection http2() {
            return http2;
        }

        void add(Stream s) {
            streams.add(s);
        }

        void remove(Stream s) {
            streams.remove(s);
        }

        /** {@code n} bytes written toward the application; their write completing calls {@link #written}. */
        void queued(int n) {
            if (!closed) {
                queued += n;
                change(n);
            }
        }

        void written(int n) {
            if (!closed) {
                queued -= n;
                change(-n);
            }
        }

        private void change(long delta) {
            counted += delta;
            held.addAndGet(delta);
            if (delta < 0) {
                progressAt = System.nanoTime();
            }
            file();
        }

        /** Files the connection in its memory class: a set's work only when its count crossed a power of two. */
        private void file() {
            long n = counted;
            int k = closed || n <= 0 ? -1 : 63 - Long.numberOfLeadingZeros(n);
            if (k != memoryClass) {
                if (memoryClass >= 0) {
                    classes[memoryClass].remove(this);
                }
                if (k >= 0) {
                    classes[k].add(this);
                }
                memoryClass = k;
            }
        }

        private void recount() {
            if (closed) {
                return;
            }
            long now = unreadNow.getAsLong();
            long delta = now - unread;
            unread = now;
            if (delta != 0) {
                change(delta);
            }
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            attach(ctx.channel());
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            readComplete();
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            detach();
            ctx.fireChannelInactive();
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            detach();
        }

        /**
         * Asked from any loop: shed on this connection's. False when it was asked already (what it holds is in
         * {@link H2HeldBudget#asked}) or cannot be.
         */
        private boolean askToShed(long holding) {
            if (!shedAsked.compareAndSet(false, true)) {
                return false;
            }
            asked.addAndGet(holding);
            try {
                channel.eventLoop().execute(() -> {
                    asked.addAndGet(-holding);
                    shed();
                });
                return true;
            } catch (java.util.concurrent.RejectedExecutionException e) {
                asked.addAndGet(-holding);
                shedAsked.set(false);
                return false;
            }
        }

        /** This connection's streams holding the most are reset until the node is under half the budget. */
        private void shed() {
            try {
                shedOnce();
            } finally {
                // Only now: the next connections asked from within (shedOnce's overBudget) are others, never this one again
                // in a loop of tasks on its own event loop (L7BudgetDriftTest aGracefullyClosingConnectionAskedToShedIsResetOnce).
                shedAsked.set(false);
            }
        }

        private void shedOnce() {
            recount();
            long over = held.get() - limit / 2;
            if (closed || held.get() <= limit) {
                return;
            }
            List<Stream> heaviest = new ArrayList<>(streams);
            List<long[]> sizes = new ArrayList<>();
            long nowNanos = System.nanoTime();
            for (int i = 0; i < heaviest.size(); i++) {
                Stream st = heaviest.get(i);
                sizes.add(new long[] {st.heldBytes(), i, nowNanos - st.progressAt() >= stalledNanos ? 1 : 0});
            }
            // Stalled streams first (their application took nothing for STALLED_NANOS: a dead or hostile endpoint), then
            // the heaviest: an upload its application reads slowly but steadily holds a full window too, and is reset
            // only when the stalled ones do not free enough.
            sizes.sort((a, b) -> a[2] != b[2] ? Long.compare(b[2], a[2]) : Long.compare(b[0], a[0]));
            int reset = 0;
            long freed = 0;
            for (long[] s : sizes) {
                if (over <= 0 || s[0] <= 0) {
                    break;
                }
                heaviest.get((int) s[1]).shed();
                resets.incrementAndGet();
                over -= s[0];
                freed += s[0];
                reset++;
            }
            long now = System.nanoTime();
            long last = lastLog.get();
            if (reset > 0 && now - last > 10_000_000_000L && lastLog.compareAndSet(last, now)) {
                // HTTP/1 counts both directions (Http1Filter.toClient): the line says which ends had not taken the bytes.
                log.info("L7 {}: {} request streams of {} reset, holding {} bytes {} had not read: the node's "
                        + "L7 proxy held {} bytes, over its budget of {} (overload, OM; an eighth of -XX:MaxDirectMemorySize: if this "
                        + "node's {} slowly by design, raise it, ZEROHOP_JAVA_OPTS_EXTRA in deploy/zerohop.sh)",
                        protocol, reset, channel, freed, http2 != null ? "their application" : "their application or client",
                        held.get(), limit, http2 != null ? "applications read request bodies" : "applications or clients read bodies");
            }
            recount();
            if (reset > 0 && held.get() > limit) {
                // What it freed was not enough (its count had changed since it was asked): ask the next, from here, as
                // connections that stopped reading would not ask again. Only after a reset, so this cannot go round.
                overBudget();
            }
        }
    }

    /**
     * Over the budget: the connections holding the most are asked to shed, as many as hold together what takes the node
     * under half the budget (counts read across loops: a heuristic). One HTTP/2 connection usually holds that much; an
     * HTTP/1 connection holds one stream's (its application's write watermark, 64 KiB, and its client's), so asking only
     * the heaviest left the node over its budget once every connection had stopped reading (none read again to ask the
     * next).
     *
     * <p>Which first, as Envoy's overload manager picks the streams its {@code reset_high_memory_stream} action resets
     * (envoyproxy/envoy source/common/buffer/watermark_buffer.cc {@code WatermarkBufferFactory::resetAccountsGivenPressure}):
     * by power-of-two memory class, the highest first, not by exact size; within a class Envoy takes its accounts in
     * hash-set order, and zerohop takes the stalled ones first (no progress for {@link #STALLED_NANOS}, as
     * {@link Connection#shed} orders a connection's streams), then the others. So a steadily read upload is not reset
     * for holding a little more than stalled connections of its class (L7Http1BreakTest
     * stalledConnectionsOfAClassAreResetBeforeASteadilyReadHeavierOne); one holding twice as much is, as in Envoy.
     * Unlike Envoy, which resets every stream of each class it clears (at most 50 per call), only as many as cover the
     * excess are asked: each HTTP/1 connection is one stream, and resetting all of a class would reset nearly every
     * connection of the node.
     *
     * <p>Cost: no sort. The classes are kept as counts change (a set's work when one crosses a power of two); while the
     * connections already asked hold enough to cover the excess ({@link #asked}) a read over the budget returns at once,
     * so the node is not walked again on each read until they have shed, and a shed that freed too little asks the next
     * itself ({@link Connection#shed}).
     */
    private static void overBudget() {
        long need = held.get() - limit / 2 - asked.get();
        if (need <= 0) {
            return;
        }
        long now = System.nanoTime();
        long stalled = stalledNanos;
        for (int k = classes.length - 1; k >= 0 && need > 0; k--) {
            Set<Connection> memoryClass = classes[k];
            if (memoryClass.isEmpty()) {
                continue;
            }
            for (int pass = 0; pass < 2 && need > 0; pass++) {
                boolean stalledPass = pass == 0;
                for (Connection c : memoryClass) {
                    if (need <= 0) {
                        break;
                    }
                    long n = c.counted;
                    if (n > 0 && (now - c.progressAt >= stalled) == stalledPass && c.askToShed(n)) {
                        need -= n;
                    }
                }
            }
        }
    }
}
