package io.zerohop.testing.netty;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The stderr copy that moved here from zerohop-testing (7 December) so that mesh-identity's tests (CrlTest) can use it:
 * what it promises them, that the lines reach the stream it replaced too, that it gives back that stream, and that
 * {@link CapturedStderr#text} reads back what was written whatever the JVM's default charset: text() decodes UTF-8, and
 * the copy was encoded in the default charset until 7 December, so under {@code -Dfile.encoding=US-ASCII} "été" came
 * back as "?t?" and this test failed (run so, with the old encoding, before the fix).
 */
class CapturedStderrTest {

    @Test
    void copiesWhatIsWrittenPassesItOnAndRestoresTheStreamItReplaced() throws Exception {
        PrintStream original = System.err;
        ByteArrayOutputStream underneath = new ByteArrayOutputStream();
        PrintStream before = new PrintStream(underneath, true, StandardCharsets.UTF_8);
        System.setErr(before);
        try {
            try (CapturedStderr err = new CapturedStderr()) {
                System.err.println("CRL: refused inbound peer été");
                System.err.print("half a line");
                assertThat(err.awaitLine("refused", "été")).isEqualTo("CRL: refused inbound peer été");
                assertThat(err.count("half a line")).as("a line not yet ended").isZero();
                assertThat(err.text()).isEqualTo("CRL: refused inbound peer été" + System.lineSeparator() + "half a line");
                assertThat(err.count("absent")).isZero();
            }
            assertThat(System.err).as("the stream it replaced, back").isSameAs(before);
            assertThat(underneath.toString(StandardCharsets.UTF_8)).as("what reached the stream underneath")
                    .isEqualTo("CRL: refused inbound peer été" + System.lineSeparator() + "half a line");
        } finally {
            System.setErr(original);
        }
    }
}
