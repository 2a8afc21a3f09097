package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.ScheduledFuture;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.TunnelResult;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;

/**
 * One HBONE connection's part in an {@link UnreadBudget}: counts what its flow controller holds unread and, when a
 * budget is crossed, resets its tunnels holding the most. The same on both sides: an accepted connection
 * ({@link ServerConnection}, its share the peer identity) and a pooled client connection ({@link ClientConnection}, its
 * share the source identity, when the client was given a budget). Event loop of the connection unless said otherwise.
 */
final class InboundGuard {
    /**
     * The shared counts move in steps of at least this many bytes (or back to zero), so that the
     * small reads and window returns of an echo touch no shared counter; the budgets are megabytes.
     */
    static final int STEP = 64 * 1024;
    private final UnreadBudget budget;
    final UnreadBudget.Share share;
    private final Channel channel;
    private final Http2Connection http2;
    private final InboundFrames frames;
    private final Logger log;
    /** The reset line's share ("ID (address)") and its other end ("to ID" on the server, "from ID" on a client). */
    private final Supplier<String> who;
    private final Supplier<String> other;
    /** This connection's unread bytes as last added to its share's and the total count. */
    private volatile long counted;
    /** The connection closed and took its count back: nothing is counted any more. */
    private boolean done;
    /** A shed asked from another connection's loop has not run yet: one such task at a time. */
    private final AtomicBoolean shedAsked = new AtomicBoolean();
    /** While a soft budget is crossed: each tunnel's delivered bytes when last looked at, and when that was. */
    private IdentityHashMap<TunnelCodec, Long> stallSeen;
    private long stallSeenAt;
    /** The next look at stalled tunnels while a soft budget is crossed (one at a time, cancelled with the connection). */
    private ScheduledFuture<?> stallCheck;
    /** True while {@link #midRead} has stopped this connection's reads. */
    private boolean paused;

    /**
     * Joins {@code shareId}'s share of {@code budget}; {@code frames} is the connection's queued-frame count, whose
     * streams' closes this hears after the flow controller's own listener (which hands a closing stream's unread
     * bytes back first). Call {@link #closed} once the connection closed.
     */
    InboundGuard(UnreadBudget budget, SpiffeId shareId, Channel channel, Http2Connection http2, InboundFrames frames,
                 Logger log, Supplier<String> who, Supplier<String> other) {
        this.budget = budget;
        this.channel = channel;
        this.http2 = http2;
        this.frames = frames;
        this.log = log;
        this.who = who;
        this.other = other;
        this.share = budget.attach(shareId);
        frames.onCounted(this::midRead);
        http2.addListener(new Http2ConnectionAdapter() {
            @Override
            public void onStreamClosed(Http2Stream stream) {
                frames.streamClosed(stream);
                count();
            }
        });
        share.connections.add(this);
    }

    /** The connection closed: its count goes back, it leaves its share. */
    void closed() {
        if (stallCheck != null) {
            stallCheck.cancel(false); // it would hold this closed connection for a stall timeout
        }
        if (done) {
            return;
        }
        done = true;
        budget.add(share, -counted);
        counted = 0;
        share.connections.remove(this);
        budget.detach(share);
    }

    /**
     * Brings the share's and the total count to what this connection's flow controller holds (DATA received and not
     * yet consumed: queued in tunnel channels whose application does not read, or delivered and not yet returned),
     * plus {@link InboundFrames#FRAME_COST} per DATA frame still queued in a tunnel channel. Called when a tunnel
     * returns window and when a stream closes (Netty then returns what it held): those run inside Netty's stream reads
     * and stream closes, where resetting other streams would change what Netty is iterating over, so they only count;
     * the budgets are enforced after each read of the connection ({@link #readComplete}).
     */
    void count() {
        count(false);
    }

    /** The change counted (0 when below the step or nothing to count). */
    private long count(boolean exact) {
        if (done) {
            return 0;
        }
        long now = http2.local().flowController().unconsumedBytes(http2.connectionStream())
                + frames.closedStreamBytes() + frames.unreadFrames() * InboundFrames.FRAME_COST;
        long delta = now - counted;
        if (delta == 0 || !exact && now != 0 && Math.abs(delta) < STEP) {
            return 0;
        }
        counted = now;
        budget.add(share, delta);
        return delta;
    }

    /**
     * Counts, then, when a budget is crossed, has the connection holding the most of it reset tunnels
     * ({@link #shed}): over the share's budget, the share's connection holding the most unread bytes; over the
     * total, that connection of the share holding the most. That connection is usually not the one reading: its
     * tunnels' windows are full, so it reads nothing and would never look. After each read of the connection.
     */
    void readComplete() {
        readComplete(false);
    }

    /** {@link #readComplete}; with {@code force}, even when the count did not move (it was just taken by {@link #midRead}). */
    private void readComplete(boolean force) {
        if (count(false) <= 0 && !force) {
            return;
        }
        UnreadBudget.Share over = budget.overShare(share, true) ? share : budget.overTotal(true) ? budget.heaviest() : null;
        InboundGuard heaviest = over == null ? null : heaviestOf(over);
        if (heaviest == this) {
            shed();
        } else if (heaviest != null) {
            heaviest.askToShed();
        }
    }

    /**
     * A look at the budgets inside a read ({@link InboundFrames#CHECK_FRAMES}): over a budget itself, this connection
     * stops reading until the shedding that {@link #readComplete} starts has run (its resets are tasks of this loop,
     * and the read resumes after them); what one read can add beyond a budget is then what it already decoded, at most
     * one socket read per connection of the share, where it was the whole read.
     */
    private void midRead() {
        if (count(false) <= 0 || paused) {
            return;
        }
        if (!budget.overShare(share, false) && !budget.overTotal(false)) {
            return;
        }
        paused = true;
        channel.config().setAutoRead(false);
        channel.eventLoop().execute(() -> {
            readComplete(true);
            channel.eventLoop().execute(() -> {
                paused = false;
                if (channel.isActive()) {
                    channel.config().setAutoRead(true);
                }
            });
        });
    }

    /** The connection of {@code share} holding the most unread bytes, as last counted; null when it has none left. */
    private static InboundGuard heaviestOf(UnreadBudget.Share share) {
        InboundGuard heaviest = null;
        for (InboundGuard c : share.connections) {
            if (heaviest == null || c.counted > heaviest.counted) {
                heaviest = c;
            }
        }
        return heaviest;
    }

    /** A budget is crossed and this connection holds the most of it: shed on this connection's loop. Any thread. */
    private void askToShed() {
        if (shedAsked.compareAndSet(false, true)) {
            channel.eventLoop().execute(() -> {
                shedAsked.set(false);
                if (!done) {
                    shed();
                }
            });
        }
    }

    /**
     * Resets this connection's tunnels that hold unread bytes, in two stages. Over a soft budget (half of the share's
     * or the total), a tunnel whose application took nothing for the stall timeout (10 s by default) is reset, largest
     * first, until the soft budgets hold again: an application that reads slowly keeps its tunnels, as with ztunnel,
     * whose window only throttles it. Over a budget itself, the tunnels holding the most are reset at once, largest
     * first, whatever they deliver, until under half of it: what bounds memory while stalled tunnels wait out their
     * timeout, and against tunnels that all creep. Envoy's {@code reset_high_memory_stream} overload action resets the
     * streams holding the most buffered bytes alike (envoyproxy/envoy source/common/buffer/watermark_buffer.cc
     * {@code resetAccountsGivenPressure}). Flow control cannot take back what the windows granted: every stream has its
     * own window, and the connection window grows with the streams so that stalled tunnels never stop the others
     * ({@link H2Config#connectionWindowFor}). A reset stream's bytes are returned when Netty closes it, which may be
     * after this pass, so the pass counts them as gone and skips streams already reset; the resets run as tasks of the
     * loop, not inside the read that crossed the budget, where Netty's HTTP/2 decoder and multiplexer are still
     * delivering.
     */
    private void shed() {
        count(true);
        long perShare = budget.perShare;
        long total = budget.total;
        long stallNanos = budget.stallTimeout.toNanos();
        if (done || !budget.overShare(share, true) && !budget.overTotal(true)) {
            stallSeen = null;
            return;
        }
        long shareHeld = share.held.get();
        long totalHeld = budget.bytes();
        long shareBefore = shareHeld;
        long totalBefore = totalHeld;
        TunnelSet set = TunnelSet.ofConnection(channel);
        List<TunnelCodec> tunnels = set == null ? List.of() : set.tunnels();
        long[] held = new long[tunnels.size()];
        Integer[] order = new Integer[tunnels.size()];
        for (int i = 0; i < held.length; i++) {
            order[i] = i;
            Channel ch = tunnels.get(i).channel();
            Http2Stream stream = ch instanceof Http2StreamChannel sc && sc.stream() != null && sc.stream().id() > 0
                    ? http2.stream(sc.stream().id()) : null;
            TunnelCodec t = tunnels.get(i);
            held[i] = stream != null && stream.isResetSent() || t.resetBy() != null ? 0
                    : (stream == null ? 0 : http2.local().flowController().unconsumedBytes(stream))
                            + InboundFrames.held(t.rare);
        }
        Arrays.sort(order, (x, y) -> Long.compare(held[y], held[x]));
        boolean hard = shareHeld > perShare || totalHeld > total;
        int reset = 0;
        long freed = 0;
        // Over a budget: the largest, whatever they deliver, until under half of it (as the outbound shedding): stopping
        // just under it, the next read crossed it again, one reset and one log line per read (a new-user pass).
        for (int i : order) {
            if (!hard || held[i] == 0 || shareHeld <= perShare / 2 && totalHeld <= total / 2) {
                break;
            }
            shareHeld -= held[i];
            totalHeld -= held[i];
            freed += held[i];
            reset++;
            resetLater(tunnels.get(i), held, i, TunnelResult.INBOUND_BUDGET);
        }
        // Over a soft budget: those that delivered nothing since the last look, a stall's time ago.
        long now = System.nanoTime();
        int stalled = 0;
        if (stallSeen != null && now - stallSeenAt >= stallNanos) {
            for (int i : order) {
                if (shareHeld <= perShare / 2 && totalHeld <= total / 2) {
                    break;
                }
                if (held[i] == 0) {
                    continue; // reset above, or holding nothing
                }
                Long seen = stallSeen.get(tunnels.get(i));
                if (seen != null && seen == tunnels.get(i).bytesIn()) {
                    shareHeld -= held[i];
                    totalHeld -= held[i];
                    freed += held[i];
                    stalled++;
                    resetLater(tunnels.get(i), held, i, TunnelResult.INBOUND_STALLED);
                }
            }
        }
        if (shareHeld > perShare / 2 || totalHeld > total / 2) {
            if (stallSeen == null || now - stallSeenAt >= stallNanos) {
                IdentityHashMap<TunnelCodec, Long> seen = new IdentityHashMap<>();
                for (int i : order) {
                    if (held[i] > 0) {
                        seen.put(tunnels.get(i), tunnels.get(i).bytesIn());
                    }
                }
                stallSeen = seen;
                stallSeenAt = now;
            }
            if (stallCheck == null) {
                stallCheck = channel.eventLoop().schedule(() -> {
                    stallCheck = null;
                    shed();
                }, stallNanos, TimeUnit.NANOSECONDS);
            }
        } else {
            stallSeen = null;
        }
        long n = reset + stalled > 0 ? budget.shedLog.admit() : -1;
        if (n >= 0) {
            boolean overShare = shareBefore > (hard ? perShare : perShare / 2);
            long limit = overShare ? perShare : total;
            String whose = overShare ? "per " + budget.unit
                    : "of the " + budget.whole + ", and this " + budget.unit + " holds the most";
            String why = (hard ? "over the inbound budget of " + limit + " bytes " + whose
                    : "over half (" + limit / 2 + " bytes) of the inbound budget of " + limit + " bytes " + whose)
                    + (stalled > 0 ? ", " + LogText.count(stalled, "tunnel", "tunnels") + " of them delivering nothing for "
                    + LogText.duration(budget.stallTimeout) : "");
            log.info("HBONE tunnels reset: {} {} holds {} bytes its tunnels' applications have not read (the {} {}), {}: reset {} {} holding {} bytes ({}){}",
                    budget.unit, who.get(), shareBefore, budget.whole, totalBefore, why, LogText.count(reset + stalled, "tunnel", "tunnels"),
                    other.get(), freed, budget.raise(), LogBudget.note(n));
        }
    }

    /** Resets {@code codec}'s tunnel from a task of the loop (not inside a read); its held bytes no longer count here. */
    private void resetLater(TunnelCodec codec, long[] held, int i, String why) {
        held[i] = 0;
        // Marked now: a pass before the reset's task has run must not pick it again (a new-user pass saw one
        // connection's 4 tunnels "reset" twice, 70 ms apart, and the count grow meanwhile).
        if (codec.rare == null) {
            codec.rare = new TunnelCodec.Rare();
        }
        if (codec.rare.resetBy == null) {
            codec.rare.resetBy = why;
        }
        Channel shed = codec.channel();
        channel.eventLoop().execute(() -> Tunnels.reset(shed, why));
    }
}
