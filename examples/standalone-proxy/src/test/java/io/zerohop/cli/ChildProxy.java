package io.zerohop.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code zerohop proxy} in a child JVM on this module's test class path (stdout and stderr merged): started,
 * read up to its ready line, then stopped with SIGTERM (it drains and exits 0) and read to its end.
 */
final class ChildProxy implements AutoCloseable {
    private final Process process;
    private final BufferedReader reader;
    private final StringBuilder out = new StringBuilder();

    /** Starts {@code java [jvmOptions] Zerohop proxy [args]}; returns once the ready line is read (or the output ended). */
    ChildProxy(List<String> jvmOptions, String... args) throws IOException {
        this(java.util.Map.of(), jvmOptions, args);
    }

    /** As {@link #ChildProxy(List, String...)}, with {@code env} added to this process's environment. */
    ChildProxy(java.util.Map<String, String> env, List<String> jvmOptions, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Zerohop.class.getName(), "proxy"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        process = pb.start();
        reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        for (String line; (line = reader.readLine()) != null; ) {
            out.append(line).append('\n');
            // Anywhere in the line: in ztunnel's log format it follows the time, level and target.
            if (line.contains("zerohop proxy ready:")) {
                break;
            }
        }
    }

    /**
     * A socket bound to {@code fromIp} and connected to the {@code --forward} listener on {@code listenIp}, whose port the
     * listening line names (not the start's warnings, which name a forward as given, port 0); 10 s read timeout.
     */
    java.net.Socket dialForward(String listenIp, String fromIp) throws IOException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("forward " + java.util.regex.Pattern.quote(listenIp) + ":([1-9]\\d*)=")
                .matcher(output());
        if (!m.find()) {
            throw new AssertionError("no forward listening on " + listenIp + " in:\n" + output());
        }
        java.net.Socket s = new java.net.Socket();
        try {
            s.bind(new java.net.InetSocketAddress(fromIp, 0));
            s.connect(new java.net.InetSocketAddress(listenIp, Integer.parseInt(m.group(1))), 10_000);
            s.setSoTimeout(10_000);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /** What it printed so far. */
    String output() {
        return out.toString();
    }

    /**
     * SIGTERM (Process.destroy would close the stream still being read), then the rest of the output; the exit code.
     */
    int stop() throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-TERM", Long.toString(process.pid())).start().waitFor();
        for (String line; (line = reader.readLine()) != null; ) {
            out.append(line).append('\n');
        }
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            return -1;
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
