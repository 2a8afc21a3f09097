package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The classes a {@code zerohop proxy} start loads until its ready line, from a child
 * JVM's {@code -Xlog:class+load}: what the start-up footprint tests (issue 14) assert on.
 */
final class ProxyStartClasses {
    private ProxyStartClasses() {}

    /**
     * Starts {@code zerohop proxy} in a child JVM (this test's class path, {@code jvmArgs} before the
     * main class; {@code proxyArgs}, the identity source first, after loopback listener defaults), waits
     * for its ready line and stops it.
     *
     * @return the names of the classes loaded until then, in load order
     */
    static List<String> untilReady(Path dir, String name, List<String> jvmArgs, String... proxyArgs) throws Exception {
        Path log = dir.resolve(name + "-classes.txt");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xlog:class+load=info:file=" + log));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Zerohop.class.getName(),
                "proxy", "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "127.0.0.1:0",
                "--admin", "off", "--drain", "0s"));
        cmd.addAll(List.of(proxyArgs));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        List<String> output = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = out.readLine()) != null && !line.startsWith("zerohop proxy ready"); ) {
                output.add(line);
            }
            assertThat(p.isAlive()).as("the proxy started: %s", output).isTrue();
        } finally {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        // "[0.123s][info][class,load] java.lang.Object source: shared objects file"
        try (Stream<String> lines = Files.lines(log)) {
            return lines.map(l -> l.split(" ")).filter(f -> f.length > 1).map(f -> f[1]).toList();
        }
    }
}
