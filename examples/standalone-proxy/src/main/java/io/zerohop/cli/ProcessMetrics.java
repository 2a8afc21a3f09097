package io.zerohop.cli;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * The process-level series ztunnel serves beside its traffic metrics, which Istio's ztunnel dashboard
 * reads (istio/istio manifests/addons/dashboards/ztunnel.libsonnet, lib/queries.libsonnet):
 * {@code istio_build{component="ztunnel",tag}} (ztunnel's src/metrics/meta.rs; the "Ztunnel Versions"
 * panel selects {@code component="ztunnel"}, so zerohop answers to it, with its own version as
 * {@code tag}, e.g. {@code zerohop-0.1.0}, where ztunnel puts the Istio version) and
 * {@code process_open_fds} / {@code process_max_fds} (src/metrics/process.rs: the entries of
 * {@code /dev/fd} and the soft {@code RLIMIT_NOFILE}). Read at scrape time from {@code /proc}, without
 * JMX (its classes would be loaded at every start); where {@code /proc} cannot be read the value is
 * NaN, where ztunnel logs an error and reports 0 or nothing.
 */
final class ProcessMetrics {
    /** ztunnel's {@code tag}: here zerohop's version, {@code zerohop-0.1.0}. */
    static final String TAG = Zerohop.VERSION.replace(' ', '-');

    private ProcessMetrics() {}

    static void register(MeterRegistry registry) {
        Gauge.builder("istio.build", () -> 1).description("Istio component build info.")
                .tags("component", "ztunnel", "tag", TAG).strongReference(true).register(registry);
        Gauge.builder("process.open.fds", ProcessMetrics::openFds).description("Number of open file descriptors")
                .strongReference(true).register(registry);
        Gauge.builder("process.max.fds", ProcessMetrics::maxFds).description("Maximum number of file descriptors")
                .strongReference(true).register(registry);
    }

    /** The process's open file descriptors, without the one that lists them; NaN if /proc cannot be read. */
    static double openFds() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count() - 1;
        } catch (IOException | java.io.UncheckedIOException e) {
            return Double.NaN;
        }
    }

    /** The soft limit of open files ({@code Max open files} in /proc/self/limits); NaN if unknown or unlimited. */
    static double maxFds() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? Double.NaN : Double.parseDouble(soft);
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
