package io.zerohop.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The Linux capabilities this JVM holds, for tests that need privileges to skip where they are
 * missing. Being root is not enough: a container's root holds neither {@code CAP_NET_ADMIN} nor
 * {@code CAP_SYS_ADMIN} by default (Docker), and a user can hold some without being root.
 * Reads {@code CapEff} of {@code /proc/self/status} (proc(5)); capability numbers as in
 * {@code linux/capability.h}.
 */
public final class LinuxCapabilities {
    /** Interfaces, routes, nftables, {@code IP_TRANSPARENT}. */
    public static final int NET_ADMIN = 12;
    /** Raw sockets (tcpdump); also allows {@code IP_TRANSPARENT}. */
    public static final int NET_RAW = 13;
    /** Namespaces ({@code ip netns add} mounts one). */
    public static final int SYS_ADMIN = 21;

    private LinuxCapabilities() {
    }

    /** Whether every one of {@code capabilities} is in the effective set; false where it cannot be read (not Linux). */
    public static boolean has(int... capabilities) {
        long effective = effective();
        for (int c : capabilities) {
            if ((effective & (1L << c)) == 0) {
                return false;
            }
        }
        return true;
    }

    /** The effective set as a bit mask, 0 where it cannot be read. */
    public static long effective() {
        try {
            List<String> status = Files.readAllLines(Path.of("/proc/self/status"));
            return status.stream().filter(l -> l.startsWith("CapEff:")).findFirst()
                    .map(l -> Long.parseUnsignedLong(l.substring("CapEff:".length()).trim(), 16)).orElse(0L);
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }
}
