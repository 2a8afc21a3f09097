package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/zerohop.sh gives Kubernetes mode its archive and heap flags when the mode comes from the
 * {@code --config} file, as the DaemonSets run it ({@code proxy --config /etc/zerohop/proxy.yaml} with
 * {@code kubernetes: true}, deploy/node-proxy/configmap.yaml): before, it looked at the command line
 * only, so the deployed node proxy ran without either. The JVM is a stand-in here (a {@code java}
 * script first on PATH that prints its arguments): what is under test is the shell script's choice
 * of flags, which KubernetesLauncherE2EIT checks on a real JVM for {@code --kubernetes}.
 */
class LauncherKubernetesModeTest {
    private static final Path LAUNCHER = Path.of("..", "..", "deploy", "zerohop.sh").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    private List<String> jvmArgs(String... args) throws Exception {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path java = bin.resolve("java");
        Files.writeString(java, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path archive = dir.resolve("kube.jsa");
        Files.writeString(archive, "stand-in");
        List<String> command = new ArrayList<>(List.of("sh", LAUNCHER.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().remove("ZEROHOP_CDS_ARCHIVE");
        pb.environment().remove("JAVA_OPTS");
        pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        pb.environment().put("ZEROHOP_KUBERNETES_CDS_ARCHIVE", archive.toString());
        pb.environment().put("ZEROHOP_JAR", dir.resolve("zerohop.jar").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out.lines().toList();
    }

    private Path config(String text) throws Exception {
        return Files.writeString(dir.resolve("proxy.yaml"), text);
    }

    /**
     * -XX:TrimNativeHeapInterval (issue 14: glibc's free native memory back to the kernel) is added only for a JRE whose
     * release file names a version that has the flag: JDK 17.0.9+, 21.0.1+, 22+ (JDK-8293114 and its backports); any
     * other refuses to start with it ("Unrecognized VM option").
     */
    @Test
    void theNativeHeapTrimIsAddedOnlyForAJvmThatHasIt() throws Exception {
        Path release = dir.resolve("release");
        for (String v : new String[] {"17.0.9", "17.0.15", "21.0.1", "22", "25.0.3"}) {
            Files.writeString(release, "IMPLEMENTOR=\"x\"\nJAVA_VERSION=\"" + v + "\"\n");
            assertThat(jvmArgs("proxy", "--in-memory-ca")).as(v).contains("-XX:TrimNativeHeapInterval=5000");
        }
        for (String v : new String[] {"17.0.8", "18.0.2", "20.0.2", "21", "11.0.22"}) {
            Files.writeString(release, "JAVA_VERSION=\"" + v + "\"\n");
            assertThat(jvmArgs("proxy", "--in-memory-ca")).as(v).noneMatch(a -> a.startsWith("-XX:TrimNativeHeapInterval"));
        }
        Files.delete(release);
        assertThat(jvmArgs("proxy", "--in-memory-ca")).as("no release file").noneMatch(a -> a.startsWith("-XX:TrimNativeHeapInterval"));
    }

    /**
     * Only the proxy exits on an OutOfMemoryError (status 3, restarted by its supervisor): `policy check`'s 3 means
     * deny, and a new-user pass read such an exit of it, under a policy file that exhausted the heap, as a DENY.
     */
    @Test
    void onlyTheProxyExitsOnAnOutOfMemoryError() throws Exception {
        assertThat(jvmArgs("proxy", "--in-memory-ca")).contains("-XX:+ExitOnOutOfMemoryError");
        assertThat(jvmArgs("policy", "check", "--policies", "p")).doesNotContain("-XX:+ExitOnOutOfMemoryError");
        assertThat(jvmArgs("connect", "--help")).doesNotContain("-XX:+ExitOnOutOfMemoryError");
    }

    @Test
    void kubernetesTrueInTheConfigFileIsKubernetesMode() throws Exception {
        Path cfg = config("# as deploy/node-proxy/configmap.yaml\nkubernetes: true\ntrust-domain: cluster.local\n");
        for (List<String> args : List.of(jvmArgs("proxy", "--config", cfg.toString(), "--spire-socket", "unix:/x"),
                jvmArgs("proxy", "--config=" + cfg))) {
            assertThat(args).contains("-XX:MaxHeapFreeRatio=30", "-XX:-ShrinkHeapInSteps",
                    "-XX:SharedArchiveFile=" + dir.resolve("kube.jsa"));
        }
    }

    /** A key or value written in quotes is the same setting to the proxy's YAML reader (ConfigFile). */
    @Test
    void quotedKeysAndValuesAreKubernetesModeToo() throws Exception {
        for (String line : List.of("\"kubernetes\": true", "'kubernetes' : 'true'", "kubernetes: \"true\"  # the DaemonSet")) {
            assertThat(jvmArgs("proxy", "--config", config(line + "\n").toString())).as(line)
                    .contains("-XX:MaxHeapFreeRatio=30").doesNotContain("-D" + KubernetesProxy.LAUNCHER_DECISION + "=false");
        }
    }

    /**
     * A layout grep cannot read runs with the other modes' flags, and says so to the JVM: the proxy warns
     * when it then runs Kubernetes mode (KubernetesProxy), instead of running ~14-60 MB larger in silence.
     */
    @Test
    void aLayoutTheLauncherCannotReadIsPassedOnAsNotKubernetes() throws Exception {
        assertThat(jvmArgs("proxy", "--config", config("{kubernetes: true}\n").toString()))
                .contains("-D" + KubernetesProxy.LAUNCHER_DECISION + "=false").doesNotContain("-XX:MaxHeapFreeRatio=30");
    }

    @Test
    void theCommandLineWinsAndOtherConfigsAreNotKubernetesMode() throws Exception {
        assertThat(jvmArgs("proxy", "--kubernetes", "--node", "n")).contains("-XX:MaxHeapFreeRatio=30");
        Path cfg = config("kubernetes: true\n");
        assertThat(jvmArgs("proxy", "--config", cfg.toString(), "--kubernetes=false")).doesNotContain("-XX:MaxHeapFreeRatio=30");
        cfg = config("kubernetes: false\nworkloads: /etc/w.yaml\n");
        assertThat(jvmArgs("proxy", "--config", cfg.toString())).doesNotContain("-XX:MaxHeapFreeRatio=30")
                .noneMatch(a -> a.startsWith("-XX:SharedArchiveFile=" + dir));
        assertThat(jvmArgs("proxy", "--in-memory-ca")).doesNotContain("-XX:MaxHeapFreeRatio=30");
    }
}
