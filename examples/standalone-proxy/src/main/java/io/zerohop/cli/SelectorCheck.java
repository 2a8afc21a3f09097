package io.zerohop.cli;

import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicySet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ALLOW AuthorizationPolicies whose {@code spec.selector.matchLabels} selects no workload of the
 * registry: a mistyped label value ({@code app: checkuot}) is a valid policy that selects nothing, so
 * istiod and ztunnel leave the workload it was written for open. The decision stays theirs; this only
 * says why. {@code policy check --workloads} prints it for its {@code --dest}; the proxy, given a
 * {@code --workloads} file, logs each such policy once, at the load that brings it (a new-user pass
 * found the proxy silent about it).
 */
final class SelectorCheck implements Consumer<PolicySet> {
    private static final Logger LOG = LoggerFactory.getLogger(SelectorCheck.class);

    private final WorkloadRegistry registry;
    private final String registryName;
    private Set<String> logged = Set.of();

    /** @param registryName how the messages name the registry, e.g. the {@code --workloads} path */
    SelectorCheck(WorkloadRegistry registry, String registryName) {
        this.registry = registry;
        this.registryName = registryName;
    }

    /** Logs each line not logged at the previous load (every reload calls this). */
    @Override
    public synchronized void accept(PolicySet policies) {
        Set<String> now = new HashSet<>();
        for (String w : unselecting(policies, registry, registryName, null)) {
            now.add(w);
            if (!logged.contains(w)) {
                LOG.warn(w);
            }
        }
        logged = now;
    }

    /**
     * One line per ALLOW AuthorizationPolicy of {@code set} whose {@code matchLabels} selects no
     * workload of {@code registry} in its namespace; with {@code dest}, only those of its namespace, each
     * naming the selector labels {@code dest} has. Reads the files the loader already accepted (strictly),
     * for the two fields the public {@link io.zerohop.policy.PolicyRef} does not carry; a file it cannot
     * read gives no line. Never null.
     */
    static List<String> unselecting(PolicySet set, WorkloadRegistry registry, String registryName, Workload dest) {
        List<String> out = new ArrayList<>();
        var yaml = new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory());
        for (Path file : set.files()) {
            List<com.fasterxml.jackson.databind.JsonNode> docs;
            try (var it = yaml.readerFor(com.fasterxml.jackson.databind.JsonNode.class)
                    .<com.fasterxml.jackson.databind.JsonNode>readValues(file.toFile())) {
                docs = it.readAll();
            } catch (java.io.IOException | RuntimeException e) {
                continue;
            }
            for (var doc : docs) {
                if (doc == null || !"AuthorizationPolicy".equals(doc.path("kind").asText())
                        || !"ALLOW".equals(doc.path("spec").path("action").asText("ALLOW"))) {
                    continue;
                }
                String namespace = doc.path("metadata").path("namespace").asText("default");
                if (dest != null && !dest.namespace().equals(namespace)) {
                    continue;
                }
                var match = doc.path("spec").path("selector").path("matchLabels");
                if (!match.isObject() || match.isEmpty()) {
                    continue; // namespace-wide, or a targetRefs policy ztunnel does not enforce (README)
                }
                Map<String, String> wanted = new TreeMap<>();
                match.fields().forEachRemaining(e -> wanted.put(e.getKey(), e.getValue().asText()));
                boolean selects = registry.all().stream().anyMatch(w -> w.namespace().equals(namespace)
                        && wanted.entrySet().stream().allMatch(e -> e.getValue().equals(w.labels().get(e.getKey()))));
                if (selects) {
                    continue;
                }
                String about = "";
                if (dest != null) {
                    String has = wanted.keySet().stream().filter(dest.labels()::containsKey)
                            .map(k -> k + "=" + dest.labels().get(k)).collect(Collectors.joining(","));
                    about = "; " + dest.namespace() + "/" + dest.name() + (has.isEmpty() ? " has none of those labels" : " has " + has);
                }
                out.add("AuthorizationPolicy " + namespace + "/" + doc.path("metadata").path("name").asText()
                        + " (ALLOW) selects no workload in " + registryName + " (its selector " + wanted.entrySet().stream()
                        .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","))
                        + about + "), so it protects nothing: a mistyped selector label leaves the workload it was written for open");
            }
        }
        return out;
    }
}
