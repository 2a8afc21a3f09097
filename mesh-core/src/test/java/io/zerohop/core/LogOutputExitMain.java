package io.zerohop.core;

/**
 * A process for {@link LogOutputTest}: installs the queueing streams, prints {@code args[0]} lines and a stack trace,
 * then calls {@code System.exit} without closing them.
 */
public final class LogOutputExitMain {
    private LogOutputExitMain() {}

    public static void main(String[] args) {
        LogOutput.install();
        int n = Integer.parseInt(args[0]);
        for (int i = 0; i < n; i++) {
            System.out.println("line " + i);
        }
        new IllegalStateException("printed just before exit").printStackTrace();
        System.exit(3);
    }
}
