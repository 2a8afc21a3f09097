package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code --workloads} entry whose namespace, name or service account Kubernetes would refuse is named at that field
 * and its line ({@code workloads[1].name}), in apimachinery's wording (k8s.io/apimachinery pkg/util/validation
 * IsDNS1123Label / IsDNS1123Subdomain, as mesh-policy's WorkloadRef.checked says it; a ServiceAccount's name is a
 * DNS-1123 subdomain: kubernetes pkg/apis/core/validation ValidateServiceAccountName). New-user passes: the name error
 * named the entry ({@code workloads[1]}, at the entry's first line), and an upper-case service account got a wording of
 * its own, without the lower-case spelling to write.
 */
class WorkloadFileFieldErrorTest {
    private static final String FILE = """
            trustDomain: cluster.local
            workloads:
            - namespace: prod
              name: backend
              addresses: [10.0.1.2]
            - namespace: NS
              name: NAME
              serviceAccount: SA
              addresses: [10.0.1.3]
            """;

    private static Path write(Path dir, String ns, String name, String sa) throws Exception {
        return Files.writeString(dir.resolve("w.yaml"), FILE.replace("NS", ns).replace("NAME", name).replace("SA", sa));
    }

    @Test
    void eachNameIsNamedAtItsFieldAndLine(@TempDir Path dir) throws Exception {
        Path f = write(dir, "prod", "Backend_1", "web");
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + ":7: workloads[1].name: \"Backend_1\": a lowercase RFC"
                + " 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an"
                + " alphanumeric character (e.g. 'example.com') (Kubernetes' name rules, k8s.io/apimachinery pkg/util/validation"
                + " IsDNS1123Subdomain)");
        Path g = write(dir, "Prod", "web", "web");
        assertThatThrownBy(() -> WorkloadRegistry.load(g)).hasMessageStartingWith(g + ":6: workloads[1].namespace: \"Prod\": a"
                + " lowercase RFC 1123 label must consist of").hasMessageContaining("(upper case: write \"prod\"?)");
    }

    @Test
    void anUpperCaseServiceAccountGetsKubernetesWording(@TempDir Path dir) throws Exception {
        Path f = write(dir, "prod", "web", "Web-SA");
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + ":8: workloads[1].serviceAccount: \"Web-SA\": a lowercase"
                + " RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with"
                + " an alphanumeric character (e.g. 'example.com') (upper case: write \"web-sa\"?) (Kubernetes' name rules,"
                + " k8s.io/apimachinery pkg/util/validation IsDNS1123Subdomain)");
    }
}
