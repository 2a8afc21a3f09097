package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Every Jackson artifact on mesh-kubernetes's runtime class path is one of its own dependencies, so that an
 * application gets zerohop's {@code jackson.version}, not fabric8's. A new-user pass (5 December) found an application
 * that imports zerohop-bom and depends on mesh-kubernetes resolving Jackson 2.20.0 (fabric8 7.5.2's; offline: "has not
 * been downloaded") where zerohop is tested with 2.20.1: the parent's dependencyManagement pins the version in the
 * reactor, but an application does not inherit it, and a dependency's dependencyManagement does not reach its
 * transitive dependencies. Declared directly here (depth 1 of mesh-kubernetes), each is nearer than fabric8's and wins.
 * The reactor does not show the difference, so the declarations are checked, as in {@code NoBouncyCastleRangesTest}.
 */
class JacksonVersionsTest {
    private static final Pattern LISTED = Pattern.compile("^\\s+(com\\.fasterxml\\.jackson[^:\\s]*):([^:\\s]+):jar:(?:[^:\\s]+:)?([^:\\s]+):(compile|runtime)\\b");

    @Test
    void everyJacksonArtifactOnTheRuntimeClassPathIsDeclaredByMeshKubernetes() throws Exception {
        Path listed = Path.of("target", "runtime-dependencies.txt");
        assertThat(listed).as("written by maven-dependency-plugin (generate-test-resources)").exists();
        List<String> onClassPath = new ArrayList<>();
        for (String line : Files.readAllLines(listed)) {
            Matcher m = LISTED.matcher(line);
            if (m.find()) {
                onClassPath.add(m.group(1) + ":" + m.group(2));
            }
        }
        assertThat(onClassPath).as("Jackson artifacts fabric8 brings (databind at least)")
                .contains("com.fasterxml.jackson.core:jackson-databind");

        var pom = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("pom.xml").toFile());
        List<String> declared = new ArrayList<>();
        NodeList deps = pom.getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            declared.add(text(d, "groupId") + ":" + text(d, "artifactId"));
        }
        assertThat(declared).as("mesh-kubernetes/pom.xml's dependencies").containsAll(onClassPath);
    }

    private static String text(Element e, String child) {
        NodeList n = e.getElementsByTagName(child);
        return n.getLength() == 0 ? "" : n.item(0).getTextContent().strip();
    }
}
