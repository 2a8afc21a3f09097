package io.zerohop.core.internal;

import io.netty.channel.Channel;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.AttributeKey;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.policy.Decision;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The open plaintext-inbound connections, re-decided when the policies change, as ztunnel re-decides its
 * plaintext passthrough ones (istio/ztunnel src/proxy/inbound_passthrough.rs: the connection is admitted by
 * {@code connection_manager.assert_rbac}, whose guard the {@code PolicyWatcher} closes once a policy update
 * denies it). One relayed as bytes is keyed by its connection to the workload, reset when now denied: the relay
 * behind it then resets the client (Relay: a reset of one end resets the other). One parsed as HTTP is keyed by its
 * client's connection, which exists from the accept, where the application's is dialled only for its first allowed
 * request, maybe never (HttpEnforcement.plaintext): the client is reset, and the application's connection, if any,
 * with it. Thread-safe.
 */
public final class LivePlaintext {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    /**
     * Set on a tracked connection (to the workload, or a parsed one's client) just before it is reset for a policy change, so its metrics close
     * it with ztunnel's flag for that end ({@code DENY}) rather than a reset's ({@code CONNECT}): ztunnel
     * records a connection its {@code PolicyWatcher} closed as {@code AuthorizationPolicyLateRejection}, which
     * src/proxy/metrics.rs {@code extract_failure_reason} maps to {@code AuthorizationPolicyDenied}, a
     * failure, as for a tunnel ({@link LiveAuthorization}'s {@code onDenied}).
     */
    public static final AttributeKey<Boolean> DENIED_BY_POLICY = AttributeKey.valueOf("zerohop.plaintext.deniedByPolicy");

    /** Whether {@code tracked} was reset because a policy change denied it (see {@link #DENIED_BY_POLICY}). */
    public static boolean deniedByPolicy(Channel tracked) {
        return tracked.hasAttr(DENIED_BY_POLICY) && Boolean.TRUE.equals(tracked.attr(DENIED_BY_POLICY).get());
    }

    /** Tracked connection (to the workload, or a parsed one's client) → its ends and re-decision, as at admission. */
    private final Map<Channel, Tracked> open = new ConcurrentHashMap<>();

    /**
     * {@code source}: the plaintext client, {@code to} the workload's address it is (or would be) dialled at, both named
     * by the line that says its connection was cut.
     */
    private record Tracked(java.net.InetSocketAddress source, java.net.InetSocketAddress to, Supplier<Decision> redecide) {}

    /** Policy changes seen so far ({@link #reauthorize} calls): read at admission, handed to {@link #track}. */
    private final java.util.concurrent.atomic.AtomicLong changes = new java.util.concurrent.atomic.AtomicLong();

    /** How many policy changes were seen so far; read before the admission decision, for {@link #track}. */
    public long changes() {
        return changes.get();
    }

    /**
     * Tracks {@code tracked} until it closes; {@code redecide} is asked after every policy change, and now when a
     * change came since {@code seenAtAdmission} ({@link #changes} before the admission decision): the connection is
     * tracked only once its dial completed (a parsed one: once joined to its client), and a change in between was
     * missed, which kept it open under policies that deny it (until 2 December).
     */
    public void track(Channel tracked, java.net.InetSocketAddress source, java.net.InetSocketAddress to, Supplier<Decision> redecide,
                      long seenAtAdmission) {
        Tracked t = new Tracked(source, to, redecide);
        open.put(tracked, t);
        tracked.closeFuture().addListener(f -> open.remove(tracked));
        if (changes.get() != seenAtAdmission) {
            decide(tracked, t);
        }
    }

    /** Open plaintext-inbound connections right now. */
    public int open() {
        return open.size();
    }

    /** Decides every open connection again and resets those now denied; returns how many. Never blocks. */
    public int reauthorize() {
        changes.incrementAndGet();
        List<Map.Entry<Channel, Tracked>> now = new ArrayList<>(open.entrySet());
        int closed = 0;
        for (Map.Entry<Channel, Tracked> e : now) {
            if (decide(e.getKey(), e.getValue())) {
                closed++;
            }
        }
        return closed;
    }

    /** Decides {@code ch} again; resets it when now denied and still tracked (once: the first to untrack it). */
    private boolean decide(Channel ch, Tracked t) {
        Decision d;
        try {
            d = t.redecide().get();
        } catch (RuntimeException ex) {
            log.warn("re-authorization of plaintext {} failed, closing it (never fail open): {}", ch, ex.toString());
            d = null;
        }
        if (d != null && d.allowed()) {
            return false;
        }
        if (open.remove(ch) == null) {
            return false;
        }
        log.warn("plaintext connection to {} from {} closed because it is no longer allowed after a policy update: {}",
                io.zerohop.core.Addresses.authority(t.to()),
                t.source() == null ? "-" : io.zerohop.core.Addresses.authority(t.source()),
                d == null ? "authorization failed" : d.explain());
        ch.attr(DENIED_BY_POLICY).set(Boolean.TRUE);
        ch.eventLoop().execute(() -> {
            if (ch instanceof DuplexChannel dc) {
                Relay.tcp(dc).reset();
            } else {
                ch.close();
            }
        });
        return true;
    }
}
