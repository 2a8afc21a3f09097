package io.zerohop.core.internal;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.net.InetSocketAddress;
import java.util.List;

/** One {@link HboneEvents} that tells several, in order (an HBONE client or server takes one listener). */
public final class FanOut implements HboneEvents {
    private final List<HboneEvents> all;

    public FanOut(HboneEvents... all) {
        this.all = List.of(all);
    }

    @Override
    public void tunnelOpened(TunnelInfo tunnel, TunnelCounters live) {
        for (HboneEvents e : all) {
            e.tunnelOpened(tunnel, live);
        }
    }

    @Override
    public void tunnelClosed(TunnelResult result) {
        for (HboneEvents e : all) {
            e.tunnelClosed(result);
        }
    }

    @Override
    public void tunnelRefused(TunnelInfo tunnel, int status, String reason) {
        for (HboneEvents e : all) {
            e.tunnelRefused(tunnel, status, reason);
        }
    }

    @Override
    public void tunnelDenied(TunnelInfo tunnel, io.zerohop.hbone.AuthzDecision decision) {
        for (HboneEvents e : all) {
            e.tunnelDenied(tunnel, decision);
        }
    }

    @Override
    public void tunnelFailed(TunnelInfo tunnel, Throwable cause) {
        for (HboneEvents e : all) {
            e.tunnelFailed(tunnel, cause);
        }
    }

    @Override
    public boolean logsRefusals() {
        for (HboneEvents e : all) {
            if (e.logsRefusals()) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void connectionFailed(InetSocketAddress peer, InetSocketAddress local, Throwable cause) {
        for (HboneEvents e : all) {
            e.connectionFailed(peer, local, cause);
        }
    }
}
