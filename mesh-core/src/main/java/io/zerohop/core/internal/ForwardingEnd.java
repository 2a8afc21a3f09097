package io.zerohop.core.internal;

import io.netty.channel.Channel;
import io.zerohop.hbone.internal.Relay;

/**
 * A relay end that forwards the wire operations (channel, half-close, reset, close, {@code closedCleanly}) to
 * {@code end}, for the observers that add an access line to a plain relay's end ({@link TunnelObserver#plain},
 * {@link ParsedPlaintextLog}); what else it does ({@code ended}, {@code joinFrom}, {@code throttle}) is the
 * subclass's, else {@link Relay.End}'s default.
 */
abstract class ForwardingEnd implements Relay.End {
    final Relay.End end;

    ForwardingEnd(Relay.End end) {
        this.end = end;
    }

    @Override
    public Channel channel() {
        return end.channel();
    }

    @Override
    public void shutdownOutput() {
        end.shutdownOutput();
    }

    @Override
    public void reset() {
        end.reset();
    }

    @Override
    public void close() {
        end.close();
    }

    @Override
    public boolean closedCleanly() {
        return end.closedCleanly();
    }
}
