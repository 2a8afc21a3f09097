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
}
