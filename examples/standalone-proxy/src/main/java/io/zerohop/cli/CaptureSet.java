package io.zerohop.cli;

import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * {@code zerohop proxy --capture-set TABLE/SET}: keeps the nftables set {@code ip TABLE SET} equal to the IPv4 addresses
 * of this node's workloads in the mesh (HBONE), and {@code ip6 TABLE SET}, when it exists, equal to their IPv6 addresses, so
 * that deploy/node-proxy's {@code capture.sh} captures the enrolled pods of this node and no other, in both families of a
 * dual-stack cluster: their outbound TCP, HBONE dialled to them, and plaintext sent to them (to {@code --plaintext-inbound}, where
 * PeerAuthentication decides). This is the node-wide shape of ztunnel's in-pod redirection, which istio-cni installs in
 * an enrolled pod's own namespace only (istio/istio cni/pkg/iptables/iptables.go); a rule on {@code pod-cidr} alone
 * cannot tell this node's pods from others routed through it. Both families, as istio-cni captures both: its iptables
 * backend mirrors every rule into ip6tables and its nftables one keeps a {@code -v4} and a {@code -v6} set of the host's
 * pod addresses ({@code cni/pkg/iptables/iptables.go}, {@code EnableIPv6}; {@code cni/pkg/nftables/host_sets.go},
 * {@code NewHostSetManager}). capture.sh makes the IPv6 twin table only for a cluster with an IPv6 pod range, so the
 * {@code ip6} set is optional: {@link #check} looks for it, {@link #sync} again every {@value #FORCE_EVERY} s while it is
 * missing and a pod of this node has an IPv6 address, and without it a pod's IPv6 address is left out (said once, when this node first has one) and its IPv6 TCP is
 * not captured. On an IPv6-only cluster capture.sh keeps the {@code ip} set too, empty.
 *
 * <p>{@link #check} lists it at start: a proxy that cannot (no {@code nft}, no set, no {@code CAP_NET_ADMIN}) refuses to
 * start rather than report ready while nothing is captured. It is first written once the proxy listens and its
 * registry is complete ({@link #start}'s gate: at once for {@code --workloads}, as soon as the first sync is in under
 * {@code --kubernetes}); until then it keeps what the previous proxy wrote. The proxy is ready only once that first
 * write succeeded ({@code written}, a readiness task of the proxy's: under {@code --kubernetes} the ready line and
 * {@code /healthz/ready} came up to a second before the set held the synced pods). Then one thread compares the
 * registry's local addresses with the last set written once a second and at each install of the Kubernetes registry
 * ({@link #changed}), and rewrites the set when they differ, and every {@value #FORCE_EVERY} s in any case (capture.sh, run again, empties it), in one {@code nft -f -}
 * transaction (flush and add: a reader never sees it half written). {@code nft} runs as a child process, never on an
 * event loop. A later failure is printed on stderr with {@code nft}'s own message when it first happens or changes, and
 * retried each second; until it succeeds a new pod is not captured (its traffic flows as without zerohop), which the
 * message says.
 */
final class CaptureSet implements AutoCloseable {
    /** Seconds between rewrites of an unchanged set: how long a set emptied behind the proxy's back stays empty. */
    static final int FORCE_EVERY = 5;
    private final String table;
    private final String set;
    private final WorkloadRegistry registry;
    private final String node;
    private final String nft;
    /** Which of this node's HBONE workloads its proxy captures (under --kubernetes: istio-cni's decision, PodState.captured). */
    private final java.util.function.Predicate<Workload> captured;
    private volatile boolean closed;
    /** The {@code nft} running now, or null: {@link #close} kills it. */
    private volatile Process running;
    private Thread thread;
    private String written;
    private String lastError;
    /** Whether {@code ip6 TABLE SET} exists ({@link #check}): IPv6 addresses are written to it; else left out. */
    private boolean v6;
    /** Whether the IPv6 addresses left out for want of the {@code ip6} set were said. */
    private boolean v6Said;
    /** Whether the {@code ip6} set was found after the start and not yet said (once the write that fills it succeeds). */
    private boolean v6Found;
    /** Run once, after the first successful write; null once run. */
    private Runnable firstWrite;

    /**
     * @param spec     {@code TABLE/SET} of family {@code ip} (and {@code ip6}), as {@code --capture-set} takes it (checked by {@link #parse})
     * @param registry the workloads; those whose {@code node} is {@code node} are this node's
     * @param nft      the {@code nft} program (a name looked up on the PATH, or a path), run as {@code nft -f -} and
     *                 {@code nft list set ip TABLE SET} (and {@code ip6})
     */
    CaptureSet(String[] spec, WorkloadRegistry registry, String node, String nft) {
        this(spec, registry, node, nft, null, w -> true);
    }

    /**
     * @param written  run once, on the thread that wrote, after the first successful write (the proxy's readiness task); may be null
     * @param captured which of this node's HBONE workloads are captured: a pod that terminates HBONE itself and that
     *                 istio-cni would not enrol is left out (its own listener takes what is dialled to it)
     */
    CaptureSet(String[] spec, WorkloadRegistry registry, String node, String nft, Runnable written,
               java.util.function.Predicate<Workload> captured) {
        this.table = spec[0];
        this.set = spec[1];
        this.registry = registry;
        this.node = node;
        this.nft = nft;
        this.firstWrite = written;
        this.captured = captured;
    }

    /** {@code TABLE/SET}, each an nftables identifier; null with the reason in {@code why[0]} when it is not. */
    static String[] parse(String spec, String[] why) {
        int slash = spec.indexOf('/');
        if (slash <= 0 || slash == spec.length() - 1 || spec.indexOf('/', slash + 1) >= 0) {
            why[0] = "must be TABLE/SET (an nftables table of family ip and a set in it, e.g. zerohop/mesh_pods), got \"" + spec + "\"";
            return null;
        }
        String[] parts = {spec.substring(0, slash), spec.substring(slash + 1)};
        for (String p : parts) {
            if (!p.matches("[A-Za-z][A-Za-z0-9_]*")) {
                why[0] = "\"" + p + "\" is no nftables identifier (a letter, then letters, digits, _)";
                return null;
            }
        }
        return parts;
    }

    /**
     * The script that makes the sets hold exactly {@code addresses}: the IPv4 ones in {@code ip TABLE SET}, the IPv6 ones in
     * {@code ip6 TABLE SET} when it exists. One {@code nft -f -} transaction for both: a reader never sees one family's set
     * written and the other's not.
     */
    String script(java.util.Collection<String> addresses) {
        StringBuilder s = new StringBuilder();
        family(s, "ip", addresses.stream().filter(a -> a.indexOf(':') < 0).toList());
        if (v6) {
            family(s, "ip6", addresses.stream().filter(a -> a.indexOf(':') >= 0).toList());
        }
        return s.toString();
    }

    private void family(StringBuilder s, String family, List<String> addresses) {
        s.append("flush set ").append(family).append(' ').append(table).append(' ').append(set).append('\n');
        if (!addresses.isEmpty()) {
            s.append("add element ").append(family).append(' ').append(table).append(' ').append(set).append(" { ")
                    .append(String.join(", ", addresses)).append(" }\n");
        }
    }

    /**
     * This node's mesh workloads' addresses, IPv4 and IPv6, sorted (as strings). Left out: those not captured (a pod that
     * terminates HBONE itself), workloads outside the mesh ({@link Workload.Protocol#TCP}: the Kubernetes registry keeps
     * every pod, for policies on source labels, and ztunnel captures enrolled pods only) and IPv6 link-local addresses
     * (capture.sh's rules match the pod range, and a link-local address is no pod's in a cluster).
     */
    TreeSet<String> local() {
        TreeSet<String> out = new TreeSet<>();
        for (Workload w : registry.all()) {
            if (node.equals(w.node()) && w.protocol() == Workload.Protocol.HBONE && captured.test(w)) {
                for (InetAddress a : w.addresses()) {
                    if (a instanceof Inet4Address || a instanceof Inet6Address v6a && !v6a.isLinkLocalAddress()) {
                        out.add(a.getHostAddress());
                    }
                }
            }
        }
        return out;
    }

    /**
     * Whether the set can be used, without changing it: null when {@code nft} lists {@code ip TABLE SET}, else why not
     * (nothing printed). Also looks for {@code ip6 TABLE SET}: IPv6 addresses are written only when it is there.
     */
    String check() {
        String error = run(List.of(nft, "list", "set", "ip", table, set), "");
        if (error == null) {
            v6 = ip6Exists();
        }
        return error;
    }

    private boolean ip6Exists() {
        return run(List.of(nft, "list", "set", "ip6", table, set), "") == null;
    }

    /**
     * Writes the set now if it differs from what was last written (or {@code force}); true when it holds this node's addresses.
     * The {@code ip6} set is looked for again at each forced write while it is missing and this node has a pod with an
     * IPv6 address, and after a failed write while it was there, as the {@code ip} set is recovered by writing it again each second: a table capture.sh made (or
     * remade) after the start is written within {@value #FORCE_EVERY} s, not at the next restart, and an {@code ip6} table
     * deleted behind the proxy's back no longer fails the transaction that keeps the {@code ip} set too. istio-cni's host
     * sets are kept the same way, each family's on its own (istio/istio cni/pkg/nftables/host_sets.go, AddIP picks the
     * set of the address' family).
     */
    synchronized boolean sync(boolean force) {
        TreeSet<String> now = local();
        // Only while there is an IPv6 address to write: an IPv4-only cluster's proxy runs no extra nft every 5 s.
        if (force && !v6 && now.stream().anyMatch(a -> a.indexOf(':') >= 0) && ip6Exists()) {
            v6 = true;
            v6Said = false;
            v6Found = true;
        }
        if (!v6 && !v6Said && now.stream().anyMatch(a -> a.indexOf(':') >= 0)) {
            v6Said = true;
            LogShape.proxyLine("warn", "zerohop proxy: warning: --capture-set: no nftables set ip6 " + table + " " + set + ", so the IPv6 addresses"
                    + " of node " + node + "'s pods are not captured (capture.sh makes it when POD_CIDR names an IPv6 range too)");
        }
        String script = script(now);
        if (script.equals(written) && !force) {
            return true;
        }
        String error = run(script);
        if (error != null && v6 && !ip6Exists()) {
            v6 = false;
            script = script(now);
            error = run(script);
            if (!v6Said && now.stream().anyMatch(a -> a.indexOf(':') >= 0)) {
                v6Said = true;
                LogShape.proxyLine("warn", "zerohop proxy: warning: --capture-set: nftables set ip6 " + table + " " + set + " is gone, so the"
                        + " IPv6 addresses of node " + node + "'s pods are not captured (capture.sh, run again, makes it)");
            }
        }
        // A failed write leaves the set unknown: the next tick writes again, not only once the registry changes.
        written = error == null ? script : null;
        if (error == null) {
            if (lastError != null) {
                LogShape.proxyLine("info", "zerohop proxy: capture set ip " + table + " " + set + " written again (" + now.size() + " addresses)");
            }
            lastError = null;
            if (v6Found && v6) {
                // Said once written, so that a reader of the line finds the addresses in the set.
                v6Found = false;
                LogShape.proxyLine("info", "zerohop proxy: --capture-set: nftables set ip6 " + table + " " + set + " found and written: the IPv6"
                        + " addresses of node " + node + "'s pods are captured from now on");
            }
            Runnable first = firstWrite;
            if (first != null) {
                firstWrite = null;
                first.run();
            }
            return true;
        }
        if (closed) {
            // Stopping: the write was cut short on purpose ("interrupted"), and "retrying every second" would be wrong.
            return false;
        }
        if (!error.equals(lastError)) {
            LogShape.proxyLine("error", "zerohop proxy: error: --capture-set: cannot write nftables set ip " + table + " " + set + " (" + now.size()
                    + " addresses of node " + node + "): " + error + "; until it is written, pods that joined since are not captured"
                    + " (retrying every second)");
        }
        lastError = error;
        return false;
    }

    /** Runs {@code nft} with {@code script} on its stdin: null when it exits 0, else its message. */
    private String run(String script) {
        return run(List.of(nft, "-f", "-"), script);
    }

    /** Seconds an {@code nft} run may take before it is killed. */
    static final int TIMEOUT = 10;
    /** {@link #TIMEOUT}; tests shorten it. */
    int timeoutSeconds = TIMEOUT;

    /**
     * Runs {@code command} with {@code script} on its stdin: null when it exits 0 within {@link #timeoutSeconds}, else why not.
     * Its stdin and output are served by a thread of their own, so that a child that hangs (and keeps its pipes open, or
     * its children do) is killed at the deadline, with its children, instead of wedging this thread: until 3 December the
     * output was read to its end before the deadline was looked at, and a hanging {@code nft} stopped every later write,
     * with nothing printed (a break-it pass).
     */
    private String run(List<String> command, String script) {
        String name = String.join(" ", command);
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            return name + ": " + e.getMessage();
        }
        running = p;
        java.util.concurrent.atomic.AtomicReference<byte[]> out = new java.util.concurrent.atomic.AtomicReference<>(new byte[0]);
        Thread io = new Thread(() -> {
            try (var in = p.getOutputStream()) {
                in.write(script.getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                // It exited (or was killed) without reading all of it: its exit status says what happened.
            }
            try {
                out.set(p.getInputStream().readNBytes(4096));
            } catch (IOException e) {
                // Killed: nothing more to read.
            }
        }, "zerohop-capture-set-io");
        io.setDaemon(true);
        io.start();
        try {
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                kill(p);
                return name + " did not exit within " + timeoutSeconds + " s (killed)";
            }
            // Its output is complete once the pipe closes; a grandchild that still holds it open is not waited for.
            io.join(1000);
            int rc = p.exitValue();
            // nft's message on one line, without the caret line under the script text it quotes.
            return rc == 0 ? null : name + " exited " + rc + ": " + new String(out.get(), StandardCharsets.UTF_8).lines()
                    .map(String::strip).filter(l -> !l.isEmpty() && !l.matches("\\^+")).collect(java.util.stream.Collectors.joining(" "));
        } catch (InterruptedException e) {
            kill(p);
            Thread.currentThread().interrupt();
            return "interrupted";
        } finally {
            running = null;
        }
    }

    /**
     * Kills {@code p} and what it started: a write that finished after the proxy stopped could overwrite the next proxy's
     * set. The parent first, then the children it had: killed the other way round, a wrapper script (an {@code nft} that is
     * a shell script) started its next command in the gap, which nothing killed, and its write landed after the proxy's
     * stop in 3 of 39 runs (a break-it pass; 0 of 300 in this order).
     */
    private static void kill(Process p) {
        List<ProcessHandle> children = p.descendants().toList();
        p.destroyForcibly();
        for (ProcessHandle c : children) {
            c.descendants().forEach(ProcessHandle::destroyForcibly);
            c.destroyForcibly();
        }
    }

    /** Released by {@link #changed}: the check runs at once instead of at its next second. */
    private final java.util.concurrent.Semaphore wake = new java.util.concurrent.Semaphore(0);

    /**
     * The registry changed (under {@code --kubernetes}: an install): compare now rather than at the next second. Never
     * blocks; any thread. With the 1 s check alone a new pod was captured ~0.9 s (median) after its install.
     */
    void changed() {
        wake.release();
    }

    /**
     * Starts the check on a daemon thread of its own: it waits for {@code registryReady} (writing nothing before, and
     * nothing at all when it fails: the proxy stops then), writes at once if the set was not written yet, then compares
     * once a second and at each {@link #changed}, and rewrites the set every {@value #FORCE_EVERY} s in any case.
     */
    void start(java.util.concurrent.CompletableFuture<?> registryReady) {
        thread = new Thread(() -> {
            try {
                registryReady.get();
            } catch (InterruptedException e) {
                return;
            } catch (java.util.concurrent.ExecutionException e) {
                return;
            }
            long forceEvery = TimeUnit.SECONDS.toNanos(FORCE_EVERY);
            long forced = System.nanoTime();
            boolean first = true;
            while (!closed) {
                if (!first) {
                    try {
                        wake.tryAcquire(1, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        return;
                    }
                    wake.drainPermits();
                }
                first = false;
                if (!closed) {
                    long now = System.nanoTime();
                    boolean force = now - forced >= forceEvery;
                    if (force) {
                        forced = now;
                    }
                    sync(force);
                }
            }
        }, "zerohop-capture-set");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Stops the check and kills an {@code nft} still running (a break-it pass: one that finished after the proxy stopped
     * wrote the old proxy's set over the next one's); the set keeps its last contents (a restarted proxy rewrites it;
     * capture.sh's rules need a listener anyway).
     */
    @Override
    public void close() {
        closed = true;
        if (thread != null) {
            thread.interrupt();
        }
        Process p = running;
        if (p != null) {
            kill(p);
        }
    }
}
