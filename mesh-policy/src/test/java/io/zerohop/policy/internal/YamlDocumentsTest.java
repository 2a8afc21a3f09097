package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.zerohop.policy.PolicyLoadException;
import org.junit.jupiter.api.Test;

/** The size limit names the file and the line on which it is reached (the real limit is 64 MiB; a small one here). */
class YamlDocumentsTest {

    @Test
    void sizeLimitNamesFileAndLine() {
        String yaml = "a: 1\nb: 2\nc: 3333333333\nd: 4\n";
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("big.yaml", yaml, 12));
        assertThat(e.getMessage()).isEqualTo("big.yaml:3: too large: " + yaml.length()
                + " characters (limit 12); the limit is reached on this line");
    }

    @Test
    void underTheLimitParses() throws Exception {
        assertThat(YamlDocuments.parse("ok.yaml", "a: 1\n", 12)).hasSize(1);
    }
}
