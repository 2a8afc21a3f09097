package io.zerohop.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Every published module that depends on BouncyCastle's {@code bcpkix} or {@code bcutil} excludes the siblings their
 * poms name by version range ({@code [1.81,1.82)}): an application that follows zerohop-bom's README resolves them
 * offline from mesh-identity's pins. A new-user pass (3 December) found zerohop-testing's {@code bcpkix} without the
 * exclusions: "No versions available for org.bouncycastle:bcprov-jdk18on:jar:[1.81,1.82)" in an offline build.
 * The reactor does not show it (the parent's dependencyManagement pins the versions there), so the poms are read.
 */
class NoBouncyCastleRangesTest {
    @Test
    void everyBcpkixAndBcutilDependencyExcludesItsRangedSiblings() throws Exception {
        Path root = Path.of("..").toAbsolutePath().normalize();
        List<String> missing = new ArrayList<>();
        int seen = 0;
        try (var dirs = Files.list(root)) {
            for (Path pom : dirs.map(d -> d.resolve("pom.xml")).filter(Files::isRegularFile).sorted().toList()) {
                var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
                NodeList deps = doc.getElementsByTagName("dependency");
                for (int i = 0; i < deps.getLength(); i++) {
                    Element d = (Element) deps.item(i);
                    if (d.getParentNode() == null || !"dependencies".equals(d.getParentNode().getNodeName())
                            || "dependencyManagement".equals(d.getParentNode().getParentNode().getNodeName())) {
                        continue;
                    }
                    String artifact = text(d, "artifactId");
                    List<String> needs = switch (artifact) {
                        case "bcpkix-jdk18on" -> List.of("bcutil-jdk18on", "bcprov-jdk18on");
                        case "bcutil-jdk18on" -> List.of("bcprov-jdk18on");
                        default -> List.of();
                    };
                    if (needs.isEmpty()) {
                        continue;
                    }
                    seen++;
                    List<String> excluded = new ArrayList<>();
                    NodeList ex = d.getElementsByTagName("exclusion");
                    for (int j = 0; j < ex.getLength(); j++) {
                        excluded.add(text((Element) ex.item(j), "artifactId"));
                    }
                    for (String n : needs) {
                        if (!excluded.contains(n)) {
                            missing.add(root.relativize(pom) + ": " + artifact + " does not exclude " + n);
                        }
                    }
                }
            }
        }
        assertThat(seen).as("bcpkix/bcutil dependencies found (mesh-identity's and this module's at least)").isGreaterThanOrEqualTo(3);
        assertThat(missing).isEmpty();
    }

    private static String text(Element e, String child) {
        NodeList n = e.getElementsByTagName(child);
        return n.getLength() == 0 ? "" : n.item(0).getTextContent().strip();
    }
}
