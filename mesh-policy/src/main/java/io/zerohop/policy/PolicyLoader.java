package io.zerohop.policy;

import io.zerohop.policy.internal.Loader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Loads Istio ({@code security.istio.io/v1}, {@code v1beta1}: AuthorizationPolicy,
 * PeerAuthentication) and Cilium ({@code cilium.io/v2}: CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy) YAML or JSON, multi-document files included, with kubectl's YAML
 * semantics (YAML 1.1 types, anchors/aliases and merge keys expanded, duplicate keys refused).
 * Validation is istiod's ({@code pkg/config/validation}) and Cilium's ({@code pkg/policy/api}).
 * Other kinds are skipped with one warning each; one of these four kinds with an unserved version
 * or without {@code apiVersion}, or any invalid object, fails the whole load with a
 * {@link PolicyLoadException} naming file, line and field. Never returns null.
 */
public final class PolicyLoader {

    private PolicyLoader() {
    }

    /** Every {@code *.yaml}, {@code *.yml} and {@code *.json} file directly in {@code dir} (hidden files skipped), in name order. */
    public static PolicySet fromDirectory(Path dir) throws PolicyLoadException {
        if (!Files.isDirectory(dir)) {
            throw new PolicyLoadException(dir.toString(), 0, "", "not a directory");
        }
        List<Path> files;
        try {
            files = Loader.policyFiles(dir);
        } catch (IOException e) {
            throw new PolicyLoadException(dir.toString(), 0, "", "cannot list: " + e.getMessage(), e);
        }
        return new PolicySet(Loader.loadFiles(files), dir.toString());
    }

    public static PolicySet fromFile(Path file) throws PolicyLoadException {
        return new PolicySet(Loader.loadFiles(List.of(file)), file.toString());
    }

    /** @param name used in error messages in place of a file name */
    public static PolicySet fromString(String name, String yaml) throws PolicyLoadException {
        return new PolicySet(Loader.loadString(name, yaml), name);
    }
}
