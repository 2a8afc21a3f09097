package io.zerohop.cli;

import static io.zerohop.cli.ListenerInUseTest.listening;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code zerohop demo} binds fixed ports (the article's 8080, HBONE's 15008, plaintext inbound's 15006) on its
 * {@code --ip-prefix} /24; a second demo, or a demo beside a {@code zerohop proxy} (default {@code --inbound 0.0.0.0:15008}),
 * finds one taken. Every such address is tried before the report starts: one line names each taken one and what it is, and
 * says whether {@code --ip-prefix} moves the demo off it (a process on that port at the prefix's {@code .1} too, the mark of a
 * wildcard listener, is one it cannot). Before, a new-user pass got half a report (the Istio scene passed) and then a
 * Cilium-scene failure, with an {@code --ip-prefix} hint and a wildcard remark whichever held the port.
 */
class DemoPortsTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void aTakenPortIsNamedBeforeAnySceneWithTheFlagThatMovesTheDemo() throws Exception {
        try (ServerSocket cilium = listening("127.0.248.3", 15008)) {
            assertThat(std.run("demo", "--ip-prefix", "127.0.248")).isEqualTo("exit 1: zerohop demo: 127.0.248.3:15008 (the Cilium"
                    + " checkout's HBONE port) is in use: another process listens there (`ss -ltnp` names it); the demo's ports are"
                    + " fixed (8080 as the article's policy names it, HBONE's 15008, plaintext inbound's 15006): run it on other"
                    + " loopback addresses with --ip-prefix, e.g. --ip-prefix 127.0.249");
        }
        assertThat(std.out.toString()).as("nothing of the report before the check").isEmpty();
    }

    @Test
    void aPortTakenAtThePrefixsFirstAddressTooIsAWildcardListenerThatThePrefixCannotMove() throws Exception {
        // A zerohop proxy's default --inbound 0.0.0.0:15008 takes 15008 on every address; not this test's to bind (other
        // builds run beside it), so the demo's .1 and .2 are held one by one, which the demo reads the same way.
        try (ServerSocket one = listening("127.0.248.1", 15008); ServerSocket two = listening("127.0.248.2", 15008)) {
            assertThat(std.run("demo", "--ip-prefix", "127.0.248")).isEqualTo("exit 1: zerohop demo: 127.0.248.2:15008 (the Istio"
                    + " checkout's HBONE port) is in use: another process listens there (`ss -ltnp` names it); 127.0.248.1:15008 is"
                    + " taken too, the mark of a process listening on 0.0.0.0 (or [::]) at port 15008, which takes it on every"
                    + " address, as `zerohop proxy`'s default --inbound 0.0.0.0:15008 does (and ztunnel's): --ip-prefix cannot move"
                    + " the demo off it; stop that process, or give it a specific address (zerohop proxy --inbound 10.0.2.1:15008)");
        }
        assertThat(std.out.toString()).isEmpty();
    }
}
