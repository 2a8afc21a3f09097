package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/**
 * newuser23: {@code Capture.forward} took an unresolved target or target port 0, and every connection to the
 * listener then died on a bare NullPointerException ({@code LocalWorkloads.hostHas}). Refused at once now,
 * naming the argument and its value, as {@code inbound()} and {@code serve()} refuse unresolved addresses.
 */
class CaptureArgumentsTest {
    static final InetSocketAddress BIND = new InetSocketAddress("127.0.0.1", 0);

    @Test
    void anUnresolvedTargetIsRefused() {
        assertThatThrownBy(() -> Capture.forward(BIND, InetSocketAddress.createUnresolved("db.local", 5432)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("forward target db.local")
                .hasMessageContaining("5432").hasMessageContaining("unresolved");
    }

    @Test
    void targetPortZeroIsRefused() {
        assertThatThrownBy(() -> Capture.forward(BIND, new InetSocketAddress("127.0.0.9", 0)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("forward target 127.0.0.9:0 has port 0: no connection can be made to it (give the target's port)");
    }

    @Test
    void aWildcardTargetIsRefused() {
        assertThatThrownBy(() -> Capture.forward(BIND, new InetSocketAddress("0.0.0.0", 8080)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("forward target 0.0.0.0:8080 is a wildcard address, not a destination: give the destination's IP");
        assertThatThrownBy(() -> Capture.forward(BIND, new InetSocketAddress("::", 8080)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is a wildcard address");
    }

    @Test
    void anUnresolvedBindIsRefusedInEveryMode() {
        InetSocketAddress name = InetSocketAddress.createUnresolved("proxy.local", 15001);
        assertThatThrownBy(() -> Capture.socks5(name)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("capture bind address proxy.local").hasMessageContaining("unresolved");
        assertThatThrownBy(() -> Capture.transparent(name)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Capture.forward(name, new InetSocketAddress("127.0.0.9", 80))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void anEphemeralBindAndAResolvedTargetAreFine() {
        assertThat(Capture.forward(BIND, new InetSocketAddress("127.0.0.9", 80)).target().getPort()).isEqualTo(80);
    }
}
