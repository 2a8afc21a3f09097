package io.zerohop.testing.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.BindException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import org.junit.jupiter.api.Test;

class ClosedPortTest {

    @Test
    void refusesConnectionsAndCannotBeBound() throws Exception {
        try (ClosedPort closed = new ClosedPort(); Socket s = new Socket()) {
            assertThatThrownBy(() -> s.connect(closed.address(), 10_000)).isInstanceOf(ConnectException.class);
            assertThatThrownBy(() -> new ServerSocket(closed.port(), 1, InetAddress.getLoopbackAddress()))
                    .isInstanceOf(BindException.class);
            assertThatThrownBy(() -> new ServerSocket(closed.port())).as("the wildcard").isInstanceOf(BindException.class);
        }
    }

    /**
     * The luck it removes: Linux hands a freed number to a later bind(0) about once in 14,000 binds
     * (the odd half of 32768-60999); 40,000 binds meet a freed one with probability about 0.94. While
     * the port is held, never.
     */
    @Test
    void noEphemeralBindGetsTheNumberWhileHeld() throws Exception {
        try (ClosedPort closed = new ClosedPort()) {
            for (int i = 0; i < 40_000; i++) {
                try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                    assertThat(s.getLocalPort()).as("bind %d", i).isNotEqualTo(closed.port());
                }
            }
            try (Socket s = new Socket()) {
                assertThatThrownBy(() -> s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), closed.port()), 10_000))
                        .isInstanceOf(ConnectException.class);
            }
        }
    }
}
