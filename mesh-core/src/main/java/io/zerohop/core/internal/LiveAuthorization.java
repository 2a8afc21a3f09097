package io.zerohop.core.internal;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.policy.Decision;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the open inbound tunnels and re-authorizes them when the policies change, closing (resetting)
 * those now denied, as ztunnel's {@code PolicyWatcher} does (src/proxy/connection_manager.rs: every
 * tracked inbound connection is re-checked with {@code assert_rbac} after a policy update and closed
 * when it fails, logging that it is "no longer allowed after a policy update"). The log line names
 * the deciding policy.
 */
public final class LiveAuthorization implements HboneEvents {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    private final Function<TunnelInfo, Decision> authorize;
    private final Consumer<TunnelInfo> onDenied;
    /** Open inbound tunnels by their TunnelInfo instance (the server reports the same one at close). */
    private final Map<TunnelInfo, TunnelCounters> open = Collections.synchronizedMap(new IdentityHashMap<>());

    /**
     * @param authorize the inbound decision for an open tunnel, as at CONNECT time
     * @param onDenied  told before a tunnel is closed for a policy change (metrics flag it DENY)
     */
    public LiveAuthorization(Function<TunnelInfo, Decision> authorize, Consumer<TunnelInfo> onDenied) {
        this.authorize = authorize;
        this.onDenied = onDenied;
    }

    @Override
    public void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        if (t.direction() == TunnelInfo.Direction.INBOUND && t.destination() != null) {
            open.put(t, live);
        }
    }

    @Override
    public void tunnelClosed(TunnelResult r) {
        open.remove(r.info());
    }

    /** Open inbound tunnels right now. */
    public int openTunnels() {
        return open.size();
    }

    /**
     * Decides every open inbound tunnel again and aborts those now denied. Returns how many were
     * closed. Runs on the caller's thread (the policy watcher's); aborts are handed to event loops.
     */
    public int reauthorize() {
        List<Map.Entry<TunnelInfo, TunnelCounters>> now;
        synchronized (open) {
            now = new ArrayList<>(open.entrySet());
        }
        int closed = 0;
        for (Map.Entry<TunnelInfo, TunnelCounters> e : now) {
            TunnelInfo t = e.getKey();
            Decision d;
            try {
                d = authorize.apply(t);
            } catch (RuntimeException ex) {
                log.warn("re-authorization of {} failed, closing it (never fail open): {}", t, ex.toString());
                d = null;
            }
            if (d != null && d.allowed()) {
                continue;
            }
            if (open.remove(t) == null) {
                continue; // closed meanwhile
            }
            log.warn("tunnel {} -> {} ({}) closed because it is no longer allowed after a policy update: {}",
                    t.peerIdentity(), io.zerohop.core.Addresses.authority(t.destination()), t.localIdentity(),
                    d == null ? "authorization failed" : d.explain());
            onDenied.accept(t);
            // An L7 request on the tunnel is then logged downstream_local_disconnect(...), zerohop's close (DownstreamClose).
            TunnelCount.markLocal(e.getValue(), LivePlaintext.DENIED_BY_POLICY);
            try {
                e.getValue().abort();
            } catch (UnsupportedOperationException ex) {
                log.warn("tunnel {} cannot be aborted: {}", t, ex.getMessage());
            }
            closed++;
        }
        return closed;
    }
}
