package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The CLI uses the modules' public API only ({@code io.zerohop.<module>}; the brief): it runs on the class path,
 * where module-info's exports do not hold it to that, so its compiled classes are checked for a reference to a
 * class of an {@code io.zerohop.*.internal} package. (A logger name such as {@code PolicyLoader.LOGGER} is a string,
 * not a class reference, and is allowed.)
 */
class PublicApiOnlyTest {

    @Test
    void noCliClassReferencesAnInternalPackage() throws Exception {
        Path classes = Path.of(Zerohop.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        assertThat(classes).as("the CLI's classes are a directory (target/classes)").isDirectory();
        Pattern internal = Pattern.compile("io/zerohop/[a-z]+/internal/[A-Za-z0-9_$/]+");
        List<String> found = new ArrayList<>();
        int read = 0;
        try (Stream<Path> files = Files.walk(classes)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                read++;
                // Class references sit in the constant pool as modified UTF-8: ASCII here, so a byte-wise read finds them.
                Matcher m = internal.matcher(new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1));
                while (m.find()) {
                    found.add(classes.relativize(f) + " -> " + m.group());
                }
            }
        }
        assertThat(read).as("class files read").isGreaterThan(10);
        assertThat(found).as("references to internal packages").isEmpty();
    }
}
