package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Reading which stop signals a process inherited as ignored, from /proc/PID/status (proc(5): SigIgn, bit n-1 for signal n). */
class SignalsTest {
    @Test
    void sigIgnMaskNamesIntAndTerm() {
        assertThat(Signals.ignored("Name:\tjava\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000002\nSigCgt:\t0000000000004000\n"))
                .containsExactly("SIGINT");
        assertThat(Signals.ignored("SigIgn:\t0000000000004002\n")).containsExactly("SIGINT", "SIGTERM");
        assertThat(Signals.ignored("SigIgn:\t0000000000000001\n")).as("SIGHUP (nohup) is the JVM's convention, not warned").isEmpty();
        assertThat(Signals.ignored("SigIgn:\t0000000000000000\n")).isEmpty();
        assertThat(Signals.ignored("")).isEmpty();
    }

    /**
     * ztunnel's double Ctrl+C (src/signal.rs): a second SIGINT during the drain a first SIGINT started exits at once; after
     * a SIGTERM, a SIGINT changes nothing. Until 5 December the second signal was ignored without a word (helper 231).
     */
    @Test
    void aSecondSigintDuringItsDrainExitsAtOnceAndOnlyThen() {
        java.util.concurrent.atomic.AtomicInteger halts = new java.util.concurrent.atomic.AtomicInteger();
        Signals interrupted = new Signals();
        interrupted.interrupted(halts::incrementAndGet);
        assertThat(interrupted.stopping()).isTrue();
        assertThat(halts).as("the first SIGINT drains").hasValue(0);
        interrupted.interrupted(halts::incrementAndGet);
        assertThat(halts).as("the second exits").hasValue(1);

        Signals terminated = new Signals();
        terminated.stop("SIGTERM");
        terminated.interrupted(halts::incrementAndGet);
        assertThat(halts).as("a SIGINT after a SIGTERM").hasValue(1);
    }
}
