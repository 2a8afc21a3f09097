package io.zerohop.cli;

import java.time.Duration;

/**
 * The bound of the CLI tests' waits on an in-process proxy (its ready or not-ready line, its exit,
 * an admin answer). A bound here only turns a hang into a failure: every wait ends on the event
 * itself, and the order of events is asserted by what they print, never by a clock. Await's 10 s
 * default is too short for them: the not-ready line comes 5 s after the listeners are up, and a CI
 * run at load 13 on 2 cores took longer than the 5 s left (CliTest.theReadyLineWaitsForReadiness).
 */
final class Hang {
    /** Ninety seconds: an order of magnitude above a loaded start, under the @Timeout of the classes that have one (120 s, 180 s). */
    static final Duration BOUND = Duration.ofSeconds(90);

    private Hang() {}
}
