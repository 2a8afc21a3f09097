package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.HumanText;
import java.time.Duration;

/** How log lines and messages write values a person reads (mesh-identity's {@link HumanText}, for mesh-hbone and mesh-core). */
public final class LogText {
    private LogText() {}

    /**
     * {@code d} as the options that set it are written ({@code 10s}, {@code 20s}, {@code 1500ms}, {@code 5m}),
     * the largest unit that holds it exactly, not ISO-8601's {@code PT10S} (newuser21).
     */
    public static String duration(Duration d) {
        return HumanText.duration(d);
    }

    /** {@code d} exactly, for a message refusing it ({@link HumanText#exactDuration}). */
    public static String exactDuration(Duration d) {
        return HumanText.exactDuration(d);
    }

    /** {@code n} and the noun that agrees with it: {@code 1 tunnel}, {@code 2 tunnels} (not {@code 1 tunnels}). */
    public static String count(long n, String one, String many) {
        return HumanText.count(n, one, many);
    }
}
