package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * What an inbound budget's reset line tells its reader to change ({@link UnreadBudget#raise}): the server's names its
 * builder method (asserted on the line itself in InboundBudgetTest), the clients' the {@code InboundBudget} they share.
 */
class UnreadBudgetTest {
    @Test
    void eachSideNamesTheSettingThatSizesIt() {
        UnreadBudget clients = new UnreadBudget(64 * 1024, 64 * 1024, Duration.ofSeconds(10), "source", "clients");
        UnreadBudget server = new UnreadBudget(64 * 1024, 64 * 1024, Duration.ofSeconds(10), "peer", "server");
        assertThat(clients.raise()).contains("raise InboundBudget.of(perSource, total) given to HboneClient.Builder.inboundBudget")
                .contains("a quarter of -XX:MaxDirectMemorySize");
        assertThat(server.raise()).contains("raise HboneServer.Builder.inboundBudget(perPeer, total)");
    }
}
