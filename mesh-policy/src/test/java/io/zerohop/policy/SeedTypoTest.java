package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every key of the seed article's two manifests, misspelt one at a time, is refused as a whole (the
 * policy never loads, so it never allows anything) with the file, the line the user typed the key on,
 * and the field's path. A new-user pass found the line off by one for a key whose value is a block
 * mapping or list ({@code endpointselector:} was reported on the line of {@code matchLabels:} below it).
 * The same pass found {@code namespacex:} under {@code metadata} loaded into "default", leaving the
 * article's namespace without its STRICT PeerAuthentication and its ALLOW policy: metadata now takes
 * ObjectMeta's fields only, as kubectl's strict field validation does. Keys inside {@code matchLabels}
 * are labels, not fields: any name is valid there, as in Kubernetes.
 */
class SeedTypoTest {
    private static final Pattern KEY = Pattern.compile("^(\\s*(?:- )?)([A-Za-z]+):");

    static Stream<Arguments> typos() throws Exception {
        List<Arguments> out = new ArrayList<>();
        for (String file : new String[] {"istio-ambient-e-commerce.yaml", "cilium-enforce-mtls-checkout.yaml"}) {
            List<String> lines = Files.readAllLines(SeedManifestTest.seed(file));
            for (int i = 0; i < lines.size(); i++) {
                Matcher m = KEY.matcher(lines.get(i));
                if (m.find() && !(i > 0 && lines.get(i - 1).trim().matches("(- )?matchLabels:"))) {
                    out.add(Arguments.of(file, i + 1, m.group(2)));
                }
            }
        }
        assertThat(out).as("both manifests' keys").hasSizeGreaterThan(30);
        return out.stream();
    }

    @ParameterizedTest(name = "{0}:{1}: {2} misspelt")
    @MethodSource("typos")
    void aMisspeltKeyIsRefusedOnItsOwnLine(String file, int line, String key) throws Exception {
        List<String> lines = new ArrayList<>(Files.readAllLines(SeedManifestTest.seed(file)));
        String typo = key + "x";
        lines.set(line - 1, lines.get(line - 1).replaceFirst(Pattern.quote(key) + ":", typo + ":"));
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString(file, String.join("\n", lines) + "\n"));
        assertThat(e).as("a misspelt %s must fail to load", key).isNotNull();
        assertThat(e.file()).isEqualTo(file);
        assertThat(e.line()).as(e.getMessage()).isEqualTo(line);
        assertThat(e.field()).as(e.getMessage()).satisfiesAnyOf(
                f -> assertThat(f).endsWith(typo),
                f -> assertThat(f).isEqualTo(typo));
    }
}
