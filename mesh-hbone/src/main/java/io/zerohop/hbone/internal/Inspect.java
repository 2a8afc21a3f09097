package io.zerohop.hbone.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;

/**
 * Pool and connection counts of a client or server, for tests and benchmarks only: not API, may
 * change without notice. Kept out of {@link HboneClient} and {@link HboneServer} so that their public
 * surface is what applications use; reached through the private {@code runtime} field.
 */
public final class Inspect {
    private Inspect() {}

    /** What the inbound budgets count per DATA frame queued in a tunnel, besides its payload ({@link InboundFrames#FRAME_COST}). */
    public static int queuedFrameCost() {
        return InboundFrames.FRAME_COST;
    }

    /** DATA frames copied so far, in this JVM, because their tunnel's channel was not reading ({@link InboundFrames#MADE}). */
    public static long waitingFramesCopied() {
        return InboundFrames.MADE.sum();
    }

    /** The most payload one merged DATA frame of a waiting tunnel holds ({@link InboundFrames#MERGED_MAX}). */
    public static int mergedMax() {
        return InboundFrames.MERGED_MAX;
    }

    /** Pooled connections per key. */
    public static Map<PoolKey, Integer> poolStats(HboneClient client) {
        return runtime(client, ConnectionPool.class).connectionCounts();
    }

    /** Pooled connections of {@code client}'s identity to {@code expected} at {@code hboneAddress}. */
    public static int connectionCount(HboneClient client, Set<SpiffeId> expected, InetSocketAddress hboneAddress) {
        return poolStats(client).getOrDefault(new PoolKey(client.identity(), expected, hboneAddress), 0);
    }

    /** Pooled connections of {@code client}'s identity to {@code expected} at {@code hboneAddress} that take new tunnels. */
    public static int usableConnectionCount(HboneClient client, Set<SpiffeId> expected, InetSocketAddress hboneAddress) {
        return runtime(client, ConnectionPool.class).usableConnectionCount(new PoolKey(client.identity(), expected, hboneAddress));
    }

    /** Open or opening tunnels for one pool key. */
    public static int tunnelCount(HboneClient client, Set<SpiffeId> expected, InetSocketAddress hboneAddress) {
        return runtime(client, ConnectionPool.class).tunnelCount(new PoolKey(client.identity(), expected, hboneAddress));
    }

    /** Accepted connections the server holds. */
    /** The inbound budget {@code client} was built with ({@code HboneClient.Builder#inboundBudget}), or null. */
    public static UnreadBudget inboundBudget(HboneClient client) {
        return runtime(client, ConnectionPool.class).config().inboundBudget();
    }

    public static int connectionCount(HboneServer server) {
        return runtime(server, HboneListener.class).connectionCount();
    }

    /** The channels of the connections the server holds (tests: an event fired on one). */
    public static java.util.List<io.netty.channel.Channel> connectionChannels(HboneServer server) {
        return runtime(server, HboneListener.class).connections.stream().map(c -> c.channel).toList();
    }

    /** Upstream bytes the server holds queued toward tunnels (behind closed windows). */
    public static long queuedBytes(HboneServer server) {
        return runtime(server, HboneListener.class).queuedBytes();
    }

    /** Bytes peers sent that the server's tunnels' applications have not taken yet, as its connections last counted them. */
    public static long inboundBytes(HboneServer server) {
        return runtime(server, HboneListener.class).budgets.inboundBytes();
    }

    /** Upstream connects the server has in progress. */
    public static int pendingDials(HboneServer server) {
        return runtime(server, HboneListener.class).pendingDials();
    }

    /**
     * Completes once {@code server}'s drain has closed its listener and sent every connection's final
     * GOAWAY, after its {@code HBONE drain: listener closed} log line; never before a drain starts.
     * The node proxy logs that its tunnels finished only after it, as ztunnel's drain logs its end
     * only after the listeners stopped and the connections were told (istio/ztunnel src/drain.rs
     * {@code run_with_drain}).
     */
    public static java.util.concurrent.CompletableFuture<Void> goAwaySent(HboneServer server) {
        return runtime(server, HboneListener.class).goAwaySent;
    }

    /**
     * Makes {@code clock} (nanoseconds) time the one-second hold of the streams reset on the connections {@code server}
     * accepts from now on ({@code H2Codecs.StreamIdGuard}, hyperium/h2's {@code DEFAULT_RESET_STREAM_SECS}): wire tests
     * step past the second instead of sleeping through it. Connections already accepted keep their clock.
     */
    public static void resetClock(HboneServer server, java.util.function.LongSupplier clock) {
        runtime(server, HboneListener.class).resetClock = java.util.Objects.requireNonNull(clock);
    }

    /**
     * Makes the connections {@code server} accepts from now on go away at {@code limit} + 1 streams reset for the peer's
     * errors instead of hyperium/h2's 1,024 ({@code H2Codecs.MAX_LOCAL_ERROR_RESETS}), so that wire tests reach it in a
     * few round trips. Connections already accepted keep theirs.
     */
    public static void localErrorResetLimit(HboneServer server, int limit) {
        requirePositive(limit);
        runtime(server, HboneListener.class).localErrorResetLimit = limit;
    }

    /** {@link #localErrorResetLimit(HboneServer, int)} for the connections {@code client} opens from now on. */
    public static void localErrorResetLimit(HboneClient client, int limit) {
        requirePositive(limit);
        runtime(client, ConnectionPool.class).localErrorResetLimit = limit;
    }

    private static void requirePositive(int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be positive, got " + limit);
        }
    }

    /** The budgets the server was built with. */
    public static ServerLimits limits(HboneServer server) {
        return runtime(server, HboneListener.class).cfg.limits();
    }

    /**
     * Payload bytes the client tunnel {@code stream} keeps for a reader that has not read yet (its
     * hold while open, what it kept at its end), read on its event loop, or here once that loop has
     * terminated (the client's own group, closed).
     */
    public static long unreadBytes(io.zerohop.hbone.HboneStream stream) throws Exception {
        io.netty.channel.Channel ch = stream.channel();
        if (ch.eventLoop().isTerminated()) {
            return TunnelCodec.unreadBytes(ch);
        }
        return ch.eventLoop().submit(() -> TunnelCodec.unreadBytes(ch)).get(10, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** Payload bytes that ended tunnels of {@code client} keep unread for a later attach. */
    public static long unreadBytes(HboneClient client) {
        return runtime(client, ConnectionPool.class).unreadBytes();
    }

    private static <T> T runtime(Object owner, Class<T> type) {
        try {
            Field f = owner.getClass().getDeclaredField("runtime");
            f.setAccessible(true);
            return type.cast(f.get(owner));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot inspect " + owner.getClass().getName(), e);
        }
    }
}
