package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.HboneClient;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The API boundary as the compiled module descriptors declare it (javac enforces it on module
 * code; this test keeps the declarations honest when packages are added): every package of a
 * library module is either exported to everyone and not {@code internal}, or {@code internal} and
 * exported at most to sibling {@code io.zerohop.*} modules.
 */
class ModuleBoundaryTest {

    @ParameterizedTest
    @ValueSource(classes = {InMemoryCa.class, PolicyEngine.class, HboneClient.class, Mesh.class})
    void onlyApiPackagesAreExported(Class<?> anchor) throws Exception {
        ModuleDescriptor d = descriptorOf(anchor);
        Set<String> exported = d.exports().stream().filter(e -> !e.isQualified())
                .map(ModuleDescriptor.Exports::source).collect(Collectors.toSet());

        assertThat(exported).as("%s exports its API package", d.name()).contains(anchor.getPackageName());
        for (String p : d.packages()) {
            boolean internal = p.contains(".internal");
            assertThat(exported.contains(p)).as("%s: package %s is %s", d.name(), p,
                    internal ? "internal, so must not be exported to everyone" : "not internal, so must be exported").isEqualTo(!internal);
        }
        d.exports().stream().filter(ModuleDescriptor.Exports::isQualified).forEach(e ->
                assertThat(e.targets()).as("%s exports %s only to zerohop modules", d.name(), e.source())
                        .allMatch(t -> t.startsWith("io.zerohop.")));
    }

    /** The descriptor of the module {@code anchor} was compiled in (tests run on the class path). */
    private static ModuleDescriptor descriptorOf(Class<?> anchor) throws Exception {
        Path location = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
        return ModuleFinder.of(location).findAll().stream().map(ModuleReference::descriptor).findFirst()
                .orElseThrow(() -> new AssertionError("no module-info.class in " + location));
    }
}
