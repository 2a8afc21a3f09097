package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The settings ztunnel's {@code KEEPALIVE_*} and {@code USER_TIMEOUT_ENABLED} carry (istio/ztunnel src/config.rs
 * {@code SocketConfig}): what the kernel would refuse on every socket is refused once, naming it. The sockets a real
 * proxy sets them on: the CLI's ZtunnelEnvTest ({@code ss -o}).
 */
class TcpKeepaliveTest {
    @Test
    void userTimeoutIsZtunnelsIdlePlusRetriesTimesInterval() {
        // src/proxy.rs setup_socket: keepalive_time + keepalive_retries * keepalive_interval.
        assertThat(new TcpKeepalive(true, Duration.ofSeconds(180), Duration.ofSeconds(180), 9, true).userTimeoutMillis())
                .isEqualTo(1_800_000);
        assertThat(TcpKeepalive.DEFAULT.userTimeoutMillis()).isZero();
        assertThat(TcpKeepalive.DEFAULT.idle()).isEqualTo(Duration.ofSeconds(180));
    }

    @Test
    void whatTheKernelRefusesIsRefusedNamed() {
        assertThatThrownBy(() -> new TcpKeepalive(true, Duration.ofMillis(500), null, 0, false))
                .hasMessageStartingWith("tcpKeepalive: idle must be 1s-32767s");
        assertThatThrownBy(() -> new TcpKeepalive(true, Duration.ofSeconds(10), Duration.ofSeconds(40_000), 0, false))
                .hasMessageStartingWith("tcpKeepalive: interval must be 1s-32767s");
        assertThatThrownBy(() -> new TcpKeepalive(true, Duration.ofSeconds(10), null, 128, false))
                .hasMessage("tcpKeepalive: retries must be 0-127, got 128");
        assertThatThrownBy(() -> new TcpKeepalive(true, Duration.ofSeconds(10), null, 0, true))
                .hasMessageStartingWith("tcpKeepalive: userTimeout is idle + retries x interval, so it needs both");
    }
}
