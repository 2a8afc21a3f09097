package io.zerohop.cli.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Network namespaces and the commands run in them. Every name carries a per-run prefix
 * ({@code zhe2e-<pid>-<random>-}), veths are created directly inside their namespaces (nothing is
 * added to the host's namespace), and {@link #close()} deletes every namespace this instance made,
 * which also deletes their veths, addresses, routes, rules and nftables tables.
 */
final class Netns implements AutoCloseable {
    private final String prefix;
    private final String ifPrefix;
    private final List<String> created = new ArrayList<>();

    Netns() {
        String tag = ProcessHandle.current().pid() + "-" + Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36), 36);
        this.prefix = PREFIX + tag + "-";
        // Interface names are limited to 15 bytes: "zh" + 4 random base-36 characters + a short suffix.
        this.ifPrefix = "zh" + String.format("%4s", Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36 * 36), 36)).replace(' ', '0');
    }

    private static final String PREFIX = "zhe2e-";

    /**
     * Deletes namespaces left by earlier runs whose JVM is gone (killed before its teardown ran),
     * killing what still runs inside them. Namespaces of live runs (other builds) are left alone.
     */
    static List<String> reapStale() throws IOException, InterruptedException {
        List<String> reaped = new ArrayList<>();
        for (String line : run("ip", "netns", "list").split("\n")) {
            String name = line.strip().split("\\s+")[0];
            if (!name.startsWith(PREFIX)) {
                continue;
            }
            String[] parts = name.substring(PREFIX.length()).split("-");
            long pid;
            try {
                pid = Long.parseLong(parts[0]);
            } catch (NumberFormatException e) {
                continue;
            }
            if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                continue;
            }
            for (String p : run("ip", "netns", "pids", name).split("\\s+")) {
                if (!p.isBlank()) {
                    ProcessHandle.of(Long.parseLong(p.strip())).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            run("ip", "netns", "del", name);
            reaped.add(name);
        }
        return reaped;
    }

    /** The full name of namespace {@code shortName}. */
    String ns(String shortName) {
        return prefix + shortName;
    }

    /** The full name of interface {@code shortName} (at most 9 characters). */
    String dev(String shortName) {
        return ifPrefix + shortName;
    }

    void add(String shortName) throws IOException, InterruptedException {
        run("ip", "netns", "add", ns(shortName));
        synchronized (created) {
            created.add(ns(shortName));
        }
        ip(shortName, "link", "set", "lo", "up");
    }

    /** A veth pair with one end in each namespace. */
    void veth(String nsA, String devA, String nsB, String devB) throws IOException, InterruptedException {
        run("ip", "link", "add", dev(devA), "netns", ns(nsA), "type", "veth", "peer", "name", dev(devB), "netns", ns(nsB));
    }

    /** {@code ip -n NS args...}. */
    void ip(String nsShort, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ip", "-n", ns(nsShort)));
        cmd.addAll(List.of(args));
        run(cmd);
    }

    void sysctl(String nsShort, String key, String value) throws IOException, InterruptedException {
        run("ip", "netns", "exec", ns(nsShort), "sh", "-c", "echo " + value + " > /proc/sys/" + key.replace('.', '/'));
    }

    /** Loads an nftables ruleset into the namespace ({@code nft -f -}). */
    void nft(String nsShort, String ruleset) throws IOException, InterruptedException {
        run(List.of("ip", "netns", "exec", ns(nsShort), "nft", "-f", "-"), ruleset);
    }

    /** The command line that runs {@code command} inside the namespace. */
    List<String> exec(String nsShort, List<String> command) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns(nsShort)));
        cmd.addAll(command);
        return cmd;
    }

    static String run(String... cmd) throws IOException, InterruptedException {
        return run(List.of(cmd), null);
    }

    static String run(List<String> cmd) throws IOException, InterruptedException {
        return run(cmd, null);
    }

    /** Runs a short command; fails with its output when it exits non-zero or takes over 20 s. */
    static String run(List<String> cmd, String stdin) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try (OutputStream o = p.getOutputStream()) {
            if (stdin != null) {
                o.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread reader = new Thread(() -> {
            try (InputStream in = p.getInputStream()) {
                in.transferTo(out);
            } catch (IOException ignored) {
                // killed
            }
        });
        reader.setDaemon(true);
        reader.start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("`" + String.join(" ", cmd) + "` did not finish within 20 s");
        }
        reader.join(5_000);
        String text;
        synchronized (out) {
            text = out.toString(StandardCharsets.UTF_8);
        }
        if (p.exitValue() != 0) {
            throw new IOException("`" + String.join(" ", cmd) + "` exited with " + p.exitValue() + ": " + text.strip()
                    + (stdin == null ? "" : "\ninput was:\n" + stdin));
        }
        return text;
    }

    /** Is {@code tool} on the PATH? */
    static boolean onPath(String tool) {
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(List.of((path == null ? "" : path).split(":")));
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        return dirs.stream().filter(d -> !d.isEmpty()).anyMatch(d -> Files.isExecutable(Path.of(d, tool)));
    }

    /** Deletes every namespace made here; throws naming the ones that could not be deleted. */
    @Override
    public void close() {
        // A timed-out test arrives here interrupted; the namespaces must go all the same.
        boolean interrupted = Thread.interrupted();
        List<String> failures = new ArrayList<>();
        List<String> names;
        synchronized (created) {
            names = new ArrayList<>(created);
            created.clear();
        }
        for (int i = names.size() - 1; i >= 0; i--) {
            try {
                run("ip", "netns", "del", names.get(i));
            } catch (IOException e) {
                failures.add(e.getMessage());
            } catch (InterruptedException e) {
                interrupted = true;
                failures.add("interrupted deleting " + names.get(i));
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (!failures.isEmpty()) {
            throw new IllegalStateException("network namespace teardown failed: " + String.join("; ", failures));
        }
    }

    @Override
    public String toString() {
        return "namespaces " + prefix + "* (interfaces " + ifPrefix + "*)";
    }
}
