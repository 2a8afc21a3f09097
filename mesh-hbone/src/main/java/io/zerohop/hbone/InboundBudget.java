package io.zerohop.hbone;

import io.zerohop.hbone.internal.UnreadBudget;
import java.time.Duration;

/**
 * A receive budget for the client side ({@link HboneClient.Builder#inboundBudget}): bytes destinations sent through
 * tunnels that the local applications have not read yet, bounded per source identity and over every client given the
 * same budget. Without one (the default), what a client holds is bounded only per tunnel, by its stream window
 * (4 MiB): the relay asks its stream for more only while the local connection is writable, and window goes back only
 * then; K stalled tunnels hold K windows. That is the application's own business when it is the only one, but a node
 * proxy tunnels for many workloads (one client per source identity), and about 16 stalled downloads of one of them
 * fill a 64 MiB direct-memory limit, failing every tunnel of the node.
 *
 * <p>Enforced as the server's inbound budget ({@code HboneServer.Builder#inboundBudget}, the same code): after each
 * read of a connection its unread bytes are counted; over half of the source's or the total budget, tunnels whose
 * application took nothing for the stall timeout (10 s) are reset, largest first, until under half; over a budget
 * itself the largest are reset at once, whatever they deliver, until under half. Over the total, only the source
 * holding the most is reset: one workload's slow readers do not reset another's tunnels. A reset tunnel ends as any
 * tunnel this side resets: RST_STREAM CONNECT_ERROR to the destination, a TCP reset to the local application when
 * relayed ({@link HboneRelay}), {@link TunnelResult#error()} "inbound budget" or "inbound stalled", and one budgeted
 * INFO line per pass naming the source. This follows Envoy's {@code reset_high_memory_stream} overload action (reset the
 * streams holding the most buffered bytes); ztunnel has no such bound: its client holds up to 16 MiB per HBONE
 * connection (its connection window) for as many connections as there are destinations, in its heap.
 *
 * <p>One instance is shared by every client it is given to (mesh-core gives one to all its per-identity clients).
 */
public final class InboundBudget {
    final UnreadBudget budget;

    private InboundBudget(UnreadBudget budget) {
        this.budget = budget;
    }

    /**
     * A budget of {@code perSource} bytes per source identity and {@code total} over every client given it; over half of
     * one, tunnels whose application took nothing for {@code stallTimeout} are reset.
     *
     * @throws IllegalArgumentException unless 64 KiB &le; perSource &le; total and the stall timeout is positive; a
     *                                  client with a stream window above {@code perSource} refuses it at build
     */
    public static InboundBudget of(long perSource, long total, Duration stallTimeout) {
        return new InboundBudget(new UnreadBudget(perSource, total, stallTimeout, "source", "clients"));
    }

    /** {@link #of(long, long, Duration)} with a stall timeout of 10 s, the server's default. */
    public static InboundBudget of(long perSource, long total) {
        return of(perSource, total, Duration.ofSeconds(10));
    }

    /** The most one source identity's tunnels may hold unread. */
    public long perSource() {
        return budget.perShare();
    }

    /** The most every client given this budget may hold unread together. */
    public long total() {
        return budget.total();
    }

    /** What the clients hold unread now, as last counted (in steps of 64 KiB per connection). */
    public long heldBytes() {
        return budget.bytes();
    }

    @Override
    public String toString() {
        return "InboundBudget[perSource=" + perSource() + ", total=" + total() + "]";
    }
}
