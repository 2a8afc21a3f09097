package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;

/**
 * {@code zerohop proxy --kubernetes} started as the image starts it: deploy/Dockerfile compiles
 * deploy/train/TrainingApiServer.java, trains a second archive with train-cds.sh's
 * {@code TRAIN_KUBERNETES} against it, and the launcher picks that archive for {@code --kubernetes}
 * (benchmarks/results/k8scompact-2f9bc1c.md: the start-up CPU and RSS it saves). Here the same script runs
 * (no Docker), and the proxy then syncs with the same throw-away server standing in for a cluster.
 * Fails without the change: train-cds.sh ignored TRAIN_KUBERNETES (the archive held no fabric8 or
 * Jackson class), and the launcher gave --kubernetes the default archive. Also checks that the launcher
 * gives --kubernetes its heap flags and that the proxy runs one full collection after its first sync
 * (benchmarks/results/k8sfoot-78fcc95.md: what was committed for the sync goes back; fails without either).
 */
class KubernetesLauncherE2EIT {

    @Test
    void kubernetesModeStartsFromItsOwnArchiveTrainedAgainstTheThrowAwayApiServer() throws Exception {
        Path jar = Path.of(System.getProperty("zerohop.e2e.jar")).toAbsolutePath();
        Path deploy = jar.getParent().resolve("../../../deploy").normalize();
        Path work = Files.createDirectories(Path.of(System.getProperty("zerohop.e2e.workDir"), "kube-launcher-" + System.nanoTime()))
                .toAbsolutePath();
        Path stub = Files.createDirectories(work.resolve("train"));
        // As the Dockerfile's train-api stage: javac -d /train TrainingApiServer.java
        assertThat(ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", stub.toString(),
                deploy.resolve("train/TrainingApiServer.java").toString())).isZero();
        Path archive = work.resolve("zerohop-kubernetes.jsa");
        String path = Path.of(NodeProxyE2EIT.java()).getParent() + ":" + System.getenv("PATH");
        Map<String, String> env = Map.of("PATH", path, "ZEROHOP", deploy.resolve("zerohop.sh").toString(),
                "ZEROHOP_JAR", jar.toString(), "TRAIN_KUBERNETES", stub.toString());

        ProcessBuilder train = new ProcessBuilder("sh", deploy.resolve("train-cds.sh").toString(), archive.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("train.log").toFile());
        train.environment().remove("ZEROHOP_CDS_ARCHIVE");
        train.environment().putAll(env);
        Process t = train.start();
        assertThat(t.waitFor(180, TimeUnit.SECONDS)).as("train-cds.sh finished").isTrue();
        assertThat(t.exitValue()).as("train-cds.sh: " + Files.readString(work.resolve("train.log"))).isZero();

        try (Child api = Child.start("training-api", work, List.of(NodeProxyE2EIT.java(), "-cp", stub.toString(), "TrainingApiServer"))) {
            String master = api.awaitLine(l -> l.startsWith("training api server on "), "api listening", Duration.ofSeconds(30))
                    .substring("training api server on ".length()).trim();
            Path classes = work.resolve("classes.txt");
            Path gc = work.resolve("gc.txt");
            // No ZEROHOP_CDS_ARCHIVE: the launcher chooses by --kubernetes.
            List<String> command = new ArrayList<>(List.of("env", "-u", "ZEROHOP_CDS_ARCHIVE", "PATH=" + path,
                    "ZEROHOP_JAR=" + jar, "ZEROHOP_KUBERNETES_CDS_ARCHIVE=" + archive,
                    "ZEROHOP_JAVA_OPTS_EXTRA=-Xlog:class+load=info:file=" + classes + " -Xlog:gc:file=" + gc + " -Dkubernetes.master=http://" + master
                            + " -Dkubernetes.auth.tryKubeConfig=false -Dkubernetes.auth.tryServiceAccount=false",
                    "sh", deploy.resolve("zerohop.sh").toString(), "proxy", "--kubernetes", "--node", "train", "--in-memory-ca",
                    "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "127.0.0.1:0", "--admin", "off",
                    "--drain", "0s"));
            try (Child proxy = Child.start("kube-launcher-proxy", work, command)) {
                proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(90));
                // The launcher execs the JVM: the child's pid is the JVM's. Kubernetes mode's heap flags, and the one
                // full collection after the first sync that shrinks the heap by them (deploy/zerohop.sh).
                String jvm = Files.readString(Path.of("/proc/" + proxy.pid() + "/cmdline")).replace('\0', ' ');
                assertThat(jvm).contains(" -XX:MinHeapFreeRatio=10 ", " -XX:MaxHeapFreeRatio=30 ", " -XX:-ShrinkHeapInSteps ");
                assertThat(Files.readString(gc)).contains("Pause Full (System.gc())");
                proxy.sigterm();
                assertThat(proxy.awaitExit(Duration.ofSeconds(30))).isZero();
            }
            // A --config layout the launcher's grep does not read (a flow mapping): the JVM runs without the
            // mode's flags, and the proxy says so instead of running larger in silence.
            Path flow = Files.writeString(work.resolve("flow.yaml"), "{kubernetes: true, node: train}\n");
            List<String> unseen = new ArrayList<>(List.of("env", "-u", "ZEROHOP_CDS_ARCHIVE", "PATH=" + path,
                    "ZEROHOP_JAR=" + jar, "ZEROHOP_KUBERNETES_CDS_ARCHIVE=" + archive,
                    "ZEROHOP_JAVA_OPTS_EXTRA=-Dkubernetes.master=http://" + master
                            + " -Dkubernetes.auth.tryKubeConfig=false -Dkubernetes.auth.tryServiceAccount=false",
                    "sh", deploy.resolve("zerohop.sh").toString(), "proxy", "--config", flow.toString(), "--in-memory-ca",
                    "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "127.0.0.1:0", "--admin", "off",
                    "--drain", "0s"));
            try (Child proxy = Child.start("kube-launcher-unseen", work, unseen)) {
                proxy.awaitLine(l -> l.contains("the launcher did not recognise it"), "the launcher warning", Duration.ofSeconds(60));
                proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(90));
                String jvm = Files.readString(Path.of("/proc/" + proxy.pid() + "/cmdline")).replace('\0', ' ');
                assertThat(jvm).doesNotContain("-XX:MaxHeapFreeRatio=30");
                proxy.sigterm();
                assertThat(proxy.awaitExit(Duration.ofSeconds(30))).isZero();
            }
            String loaded = Files.readString(classes);
            assertThat(loaded).contains("io.fabric8.kubernetes.api.model.Pod source: shared objects file",
                    "com.fasterxml.jackson.databind.ObjectMapper source: shared objects file",
                    "io.fabric8.kubernetes.client.informers.impl.DefaultSharedIndexInformer source: shared objects file",
                    "io.zerohop.kubernetes.internal.ObjectStrip source: shared objects file");
        }
    }
}
