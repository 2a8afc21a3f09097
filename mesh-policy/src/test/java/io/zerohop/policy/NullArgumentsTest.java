package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/**
 * A new user's null arguments read as the JDK's helpful-NPE texts ("Cannot invoke \"Object.toString()\" because
 * \"dir\" is null"), where mesh-hbone names the parameter ("NullPointerException: bind address"): every public entry
 * point of mesh-policy names its parameter, and fails before it does anything.
 */
class NullArgumentsTest {
    private static void names(ThrowingCallable call, String parameter) {
        assertThatThrownBy(call).isExactlyInstanceOf(NullPointerException.class).hasMessage(parameter);
    }

    @Test
    void theLoaderNamesTheNullParameter() {
        names(() -> PolicyLoader.fromDirectory(null), "dir");
        names(() -> PolicyLoader.fromFile(null), "file");
        names(() -> PolicyLoader.fromString(null, ""), "name");
        names(() -> PolicyLoader.fromString("x", null), "yaml");
        names(() -> PolicyLoader.fromStringQuietly(null, ""), "name");
        names(() -> PolicyLoader.fromStringQuietly("x", null), "yaml");
        names(() -> PolicyLoader.checkYaml(null, ""), "name");
        names(() -> PolicyLoader.checkYaml("x", null), "yaml");
    }

    /** Swapped arguments (the YAML first) were refused as "expected a mapping" with the whole policy as the file name. */
    @Test
    void swappedNameAndYamlAreNamedAsSuch() {
        String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: b}\n";
        for (ThrowingCallable swapped : List.<ThrowingCallable>of(() -> PolicyLoader.fromString(yaml, "inline.yaml"),
                () -> PolicyLoader.fromStringQuietly(yaml, "inline.yaml"), () -> PolicyLoader.checkYaml(yaml, "inline.yaml"))) {
            assertThatThrownBy(swapped).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("name has a line break: it names the text in messages, and the YAML comes second"
                            + " (fromString(name, yaml)); were the arguments swapped?");
        }
    }

    @Test
    void theEngineNamesTheNullParameter() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().build();
        names(() -> engine.evaluate(null), "request");
        names(() -> engine.evaluateUnparsed(null), "l4Request");
        names(() -> engine.denialBeforeHttp(null), "l4Request");
        names(() -> engine.mtlsMode(null, 80), "workload");
        names(() -> engine.requiresHttp(null, 80), "destination");
        names(() -> engine.httpPolicy(null, 80), "destination");
        names(() -> engine.ciliumHttp(null, 80), "destination");
        names(() -> engine.origin(null), "ref");
        names(() -> engine.trustDomains(null, List.of()), "trustDomain");
        names(() -> engine.trustDomains("cluster.local", null), "aliases");
        names(() -> engine.replace(null), "policies");
        names(() -> engine.addChangeListener(null), "listener");
        names(() -> engine.watch(null), "path");
        assertThat(engine.mtlsMode(new WorkloadRef("ns", "w", "sa", Map.of()), 80)).isNotNull();
    }

    @Test
    void theEngineBuilderNamesTheNullParameter() {
        names(() -> PolicyEngine.builder().rootNamespace(null), "rootNamespace");
        names(() -> PolicyEngine.builder().trustDomain(null), "trustDomain");
        names(() -> PolicyEngine.builder().trustDomainAliases(null), "aliases");
        names(() -> PolicyEngine.builder().policies(null), "policies");
        names(() -> PolicyEngine.builder().pollInterval(null), "interval");
    }
}
