package io.zerohop.policy;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A conformance suite: a table of {@link Upstream.Case}s, one parameterized test each. A subclass declares
 * {@code static List<Upstream.Case> cases()} (JUnit finds it on the concrete class) and its own
 * {@code countsPerSource} check.
 */
abstract class UpstreamTable {

    /** The timeout only guards against a hang (catastrophic regex backtracking would never end); it measures nothing. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    @Timeout(60)
    void conforms(Upstream.Case c) throws Exception {
        c.check().run();
    }
}
