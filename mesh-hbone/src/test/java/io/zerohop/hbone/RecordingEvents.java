package io.zerohop.hbone;

import java.net.InetSocketAddress;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Collects events for assertions. */
final class RecordingEvents implements HboneEvents {
    record Refusal(TunnelInfo tunnel, int status, String reason) {}

    final LinkedBlockingQueue<TunnelInfo> opened = new LinkedBlockingQueue<>();
    final LinkedBlockingQueue<TunnelResult> closed = new LinkedBlockingQueue<>();
    final LinkedBlockingQueue<Refusal> refused = new LinkedBlockingQueue<>();
    final LinkedBlockingQueue<Throwable> failed = new LinkedBlockingQueue<>();
    /** The authorizer's decisions of {@link #tunnelDenied} (each also in {@link #refused}). */
    final LinkedBlockingQueue<AuthzDecision> denied = new LinkedBlockingQueue<>();

    /** The {@link TunnelResult#error()} of every tunnel closed so far that one of the server's limits reset. */
    java.util.List<String> limitsThatReset() {
        return closed.stream().map(TunnelResult::error).filter(e -> e != null && TunnelResult.LIMITS.contains(e)).toList();
    }

    @Override
    public void tunnelOpened(TunnelInfo tunnel) {
        opened.add(tunnel);
    }

    @Override
    public void tunnelClosed(TunnelResult result) {
        closed.add(result);
    }

    @Override
    public void tunnelRefused(TunnelInfo tunnel, int status, String reason) {
        refused.add(new Refusal(tunnel, status, reason));
    }

    @Override
    public void tunnelDenied(TunnelInfo tunnel, AuthzDecision decision) {
        denied.add(decision);
        HboneEvents.super.tunnelDenied(tunnel, decision);
    }

    @Override
    public void connectionFailed(InetSocketAddress peer, InetSocketAddress local, Throwable cause) {
        failed.add(cause);
    }

    static <T> T next(LinkedBlockingQueue<T> q) throws InterruptedException {
        T t = q.poll(10, TimeUnit.SECONDS);
        if (t == null) {
            throw new AssertionError("no event within 10 s");
        }
        return t;
    }

    void clear() {
        opened.clear();
        closed.clear();
        refused.clear();
        failed.clear();
        denied.clear();
    }
}
