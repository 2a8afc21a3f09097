package io.zerohop.core.internal;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * One {@link HboneEvents} that tells several, in order (an HBONE client or server takes one listener). Each
 * listener is isolated: one that throws is logged and the next still hears the event, so a failure in one
 * (the access log, a user's {@code onTunnelClosed}) never leaves a closed tunnel counted by the drain
 * ({@link TunnelCount}) or re-authorized after a policy update ({@link LiveAuthorization}).
 */
public final class FanOut implements HboneEvents {
    /** A listener that throws on every event would write a line per tunnel: 20 lines per 10 s, then a count. */
    private static final RateLimitedLog FAILURES = failures(LoggerFactory.getLogger(FanOut.class), 20, Duration.ofSeconds(10));
    private final RateLimitedLog failures;
    private final List<HboneEvents> all;

    public FanOut(HboneEvents... all) {
        this(FAILURES, all);
    }

    /** With its own failure log (tests: a recording logger). */
    FanOut(RateLimitedLog failures, HboneEvents... all) {
        this.failures = failures;
        this.all = List.of(all);
    }

    /** The failure summary's nouns agree with its count ({@code 1 more tunnel event listener failure}, {@code 2 more ...failures}). */
    static RateLimitedLog failures(org.slf4j.Logger log, int burst, Duration window) {
        return new RateLimitedLog(log, "tunnel event listener failure", "tunnel event listener failures", burst, window);
    }

    @Override
    public void tunnelOpened(TunnelInfo tunnel, TunnelCounters live) {
        for (HboneEvents e : all) {
            try {
                e.tunnelOpened(tunnel, live);
            } catch (RuntimeException x) {
                failed(e, "tunnelOpened", x);
            }
        }
    }

    @Override
    public void tunnelClosed(TunnelResult result) {
        for (HboneEvents e : all) {
            try {
                e.tunnelClosed(result);
            } catch (RuntimeException x) {
                failed(e, "tunnelClosed", x);
            }
        }
    }

    @Override
    public void tunnelRefused(TunnelInfo tunnel, int status, String reason) {
        for (HboneEvents e : all) {
            try {
                e.tunnelRefused(tunnel, status, reason);
            } catch (RuntimeException x) {
                failed(e, "tunnelRefused", x);
            }
        }
    }

    @Override
    public void tunnelDenied(TunnelInfo tunnel, io.zerohop.hbone.AuthzDecision decision) {
        for (HboneEvents e : all) {
            try {
                e.tunnelDenied(tunnel, decision);
            } catch (RuntimeException x) {
                failed(e, "tunnelDenied", x);
            }
        }
    }

    @Override
    public void tunnelFailed(TunnelInfo tunnel, Throwable cause) {
        for (HboneEvents e : all) {
            try {
                e.tunnelFailed(tunnel, cause);
            } catch (RuntimeException x) {
                failed(e, "tunnelFailed", x);
            }
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
            try {
                e.connectionFailed(peer, local, cause);
            } catch (RuntimeException x) {
                failed(e, "connectionFailed", x);
            }
        }
    }

    private void failed(HboneEvents listener, String event, RuntimeException x) {
        failures.warn("{} of {} threw (ignored: the other listeners still run)", event, listener.getClass().getSimpleName(), x);
    }
}
