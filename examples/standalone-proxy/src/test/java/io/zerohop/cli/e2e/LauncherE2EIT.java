package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;

/**
 * {@code zerohop proxy} started as the image starts it (issue 14, start-up): deploy/train-cds.sh's
 * archive, deploy/zerohop.sh's flags and native directory, on the shaded jar. Each assertion fails
 * without the change it names; the timing they are for is in benchmarks/results/footprint-5771f1d.md.
 */
class LauncherE2EIT {

    @Test
    void theShippedStartUpPathUsesTheArchiveTheUnpackedLibrariesAndASecondThread() throws Exception {
        Path jar = Path.of(System.getProperty("zerohop.e2e.jar")).toAbsolutePath();
        Path deploy = jar.getParent().resolve("../../../deploy").normalize();
        Path work = Files.createDirectories(Path.of(System.getProperty("zerohop.e2e.workDir"), "launcher-" + System.nanoTime()))
                .toAbsolutePath();
        Path nativeDir = unpackNativeLibraries(jar, work.resolve("native"));
        Path archive = work.resolve("zerohop.jsa");
        Map<String, String> env = Map.of("PATH", Path.of(NodeProxyE2EIT.java()).getParent() + ":" + System.getenv("PATH"),
                "ZEROHOP", deploy.resolve("zerohop.sh").toString(), "ZEROHOP_JAR", jar.toString(),
                "ZEROHOP_NATIVE_DIR", nativeDir.toString(), "ZEROHOP_CDS_ARCHIVE", archive.toString());

        ProcessBuilder train = new ProcessBuilder("sh", deploy.resolve("train-cds.sh").toString(), archive.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("train.log").toFile());
        train.environment().putAll(env);
        // The training once listened on fixed ports (15000-15080, or a base given), and failed with
        // "proxy not ready" whenever one was taken: under load, by another connection's ephemeral
        // port. One of them is taken here (by us, or already by someone else) while it trains.
        try (java.net.ServerSocket taken = bindIfFree(15020)) {
            Process t = train.start();
            assertThat(t.waitFor(120, TimeUnit.SECONDS)).as("train-cds.sh finished").isTrue();
            assertThat(t.exitValue()).as("train-cds.sh: " + Files.readString(work.resolve("train.log"))).isZero();
        }

        Path classes = work.resolve("classes.txt");
        Path libraries = work.resolve("libraries.txt");
        List<String> command = new ArrayList<>(List.of("env"));
        env.forEach((k, v) -> command.add(k + "=" + v));
        command.add("ZEROHOP_JAVA_OPTS_EXTRA=-Xlog:class+load=info:file=" + classes + ":tid -Xlog:library=info:file=" + libraries);
        command.addAll(List.of("sh", deploy.resolve("zerohop.sh").toString(), "proxy", "--in-memory-ca", "--inbound", "127.0.0.1:0",
                "--metrics", "off", "--readiness", "127.0.0.1:0", "--admin", "off", "--drain", "0s"));
        try (Child proxy = Child.start("launcher-proxy", work, command)) {
            proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(60));
            proxy.sigterm();
            assertThat(proxy.awaitExit(Duration.ofSeconds(30))).isZero();
        }
        String loaded = Files.readString(classes);
        // train-cds.sh dumps a static archive: JDK 17's dynamic one refuses picocli's Java 5 classes.
        assertThat(loaded).contains("picocli.CommandLine source: shared objects file");
        // zerohop.sh puts the unpacked libraries on java.library.path, so Netty does not extract them.
        assertThat(Files.readString(libraries)).contains("Loaded library " + nativeDir.resolve("libnetty_tcnative_linux_"));
        // Zerohop.main chooses the TLS provider on a second thread while the main thread parses the options.
        assertThat(loaderThread(loaded, "io.netty.handler.ssl.OpenSsl"))
                .isNotEqualTo(loaderThread(loaded, "io.zerohop.cli.ProxyCommand"));
    }

    /** A listener on 127.0.0.1:{@code port}, or null when that port is taken already (which serves as well). */
    private static java.net.ServerSocket bindIfFree(int port) {
        try {
            return new java.net.ServerSocket(port, 1, java.net.InetAddress.getByName("127.0.0.1"));
        } catch (java.io.IOException inUse) {
            return null;
        }
    }

    private static String loaderThread(String log, String className) {
        Matcher m = Pattern.compile("^\\[(\\d+)\\]\\S* " + Pattern.quote(className) + " source:", Pattern.MULTILINE).matcher(log);
        assertThat(m.find()).as(className + " loaded").isTrue();
        return m.group(1);
    }

    /** The jar's Linux JNI libraries, as deploy/Dockerfile unpacks them. */
    private static Path unpackNativeLibraries(Path jar, Path dir) throws Exception {
        Files.createDirectories(dir);
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            for (ZipEntry e : java.util.Collections.list(zip.entries())) {
                String name = e.getName();
                if (name.startsWith("META-INF/native/") && name.endsWith(".so")) {
                    try (InputStream in = zip.getInputStream(e)) {
                        Files.copy(in, dir.resolve(name.substring(name.lastIndexOf('/') + 1)));
                    }
                }
            }
        }
        return dir;
    }
}
