package io.zerohop.hbone.internal;

import io.netty.channel.socket.SocketChannel;
import java.util.function.Predicate;

/** Holds proxy-mode tunnels' 200 and relay open while a predicate says so (InboundTunnel's test hook); tests only. */
public final class JoinWindow {
    private JoinWindow() {}

    /** While {@code wait} answers true for a dialled upstream, its tunnel's join waits; null: no wait. */
    public static void hold(Predicate<SocketChannel> wait) {
        InboundTunnel.holdJoin = wait;
    }
}
